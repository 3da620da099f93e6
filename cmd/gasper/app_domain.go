package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"gasper/api/client"
)

func newCmdAppDomain(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domain",
		Short: "Add, remove and list an app's custom domains",
		Long: `Add, remove and list an app's custom domains.

Every app answers at NAME.DOMAIN through the proxies; a custom domain answers
too once its DNS points at the proxies (or at Gasper's DNS role).`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newCmdAppDomainAdd(g), newCmdAppDomainRemove(g), newCmdAppDomainList(g))
	return cmd
}

type appDomainOptions struct {
	g       *globalOptions
	AppFlag string
	JSON    bool
}

// domainAction is what `app domain add` and `remove` do with one domain.
type domainAction func(ctx context.Context, c *client.Client, g *globalOptions, app, domain string) error

func newCmdAppDomainAdd(g *globalOptions) *cobra.Command {
	return newCmdAppDomainChange(g, "add APP DOMAIN", "Give an app a custom domain",
		func(ctx context.Context, c *client.Client, g *globalOptions, app, domain string) error {
			a, err := c.AddDomain(ctx, app, domain)
			if err == nil {
				fmt.Fprintf(g.io.ErrOut, "%s now answers at https://%s\n", a.Name, domain)
			}
			return err
		})
}

func newCmdAppDomainRemove(g *globalOptions) *cobra.Command {
	return newCmdAppDomainChange(g, "remove APP DOMAIN", "Take a custom domain from an app",
		func(ctx context.Context, c *client.Client, g *globalOptions, app, domain string) error {
			err := c.RemoveDomain(ctx, app, domain)
			if err == nil {
				fmt.Fprintf(g.io.ErrOut, "Removed %s from %s\n", domain, app)
			}
			return err
		})
}

// newCmdAppDomainChange builds a command that takes APP DOMAIN and runs do.
func newCmdAppDomainChange(g *globalOptions, use, short string, do domainAction) *cobra.Command {
	opts := &appDomainOptions{g: g}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, rest, err := takeApp(opts.AppFlag, args, 1, 1, "DOMAIN")
			if err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			return do(cmd.Context(), c, opts.g, name, rest[0])
		},
	}
	return appCommand(cmd, &opts.AppFlag)
}

func newCmdAppDomainList(g *globalOptions) *cobra.Command {
	opts := &appDomainOptions{g: g}
	cmd := &cobra.Command{
		Use:   "list APP",
		Short: "List an app's URLs and custom domains",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			a, err := c.App(cmd.Context(), name)
			if err != nil {
				return err
			}
			if opts.JSON {
				return printJSON(opts.g.io.Out, a.Domains)
			}
			for _, u := range a.URLs {
				fmt.Fprintln(opts.g.io.Out, u)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the custom domains as JSON")
	return appCommand(cmd, &opts.AppFlag)
}
