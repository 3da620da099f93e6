package main

import (
	"fmt"

	"github.com/spf13/cobra"
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

func newCmdAppDomainAdd(g *globalOptions) *cobra.Command {
	opts := &appDomainOptions{g: g}
	cmd := &cobra.Command{
		Use:   "add APP DOMAIN",
		Short: "Give an app a custom domain",
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
			a, err := c.AddDomain(cmd.Context(), name, rest[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.g.io.ErrOut, "%s now answers at https://%s\n", a.Name, rest[0])
			return nil
		},
	}
	return appCommand(cmd, &opts.AppFlag)
}

func newCmdAppDomainRemove(g *globalOptions) *cobra.Command {
	opts := &appDomainOptions{g: g}
	cmd := &cobra.Command{
		Use:   "remove APP DOMAIN",
		Short: "Take a custom domain from an app",
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
			if err := c.RemoveDomain(cmd.Context(), name, rest[0]); err != nil {
				return err
			}
			fmt.Fprintf(opts.g.io.ErrOut, "Removed %s from %s\n", rest[0], name)
			return nil
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
