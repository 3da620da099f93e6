package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

func newCmdToken(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage your long-lived API tokens",
		Long: `Manage your long-lived API tokens, for scripts and CI: pass one with --token
or GASPER_TOKEN instead of logging in.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newCmdTokenCreate(g, nil),
		newCmdTokenList(g, nil),
		newCmdTokenRevoke(g, nil),
	)
	return cmd
}

type tokenCreateOptions struct {
	g *globalOptions

	Name string
	TTL  time.Duration
	JSON bool
}

func newCmdTokenCreate(g *globalOptions, runF func(*tokenCreateOptions) error) *cobra.Command {
	opts := &tokenCreateOptions{g: g}
	cmd := &cobra.Command{
		Use:   "create NAME [--ttl 720h] [--json]",
		Short: "Create an API token and print its secret, once",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.TTL < 0 {
				return usageErrorf("--ttl must not be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return runTokenCreate(cmd, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 720*time.Hour, "how long the token is valid (0: never expires)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the token as JSON")
	return cmd
}

func runTokenCreate(cmd *cobra.Command, opts *tokenCreateOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	req := api.CreateAPITokenRequest{Name: opts.Name}
	if opts.TTL > 0 {
		req.TTL = opts.TTL.String()
	}
	t, err := c.CreateAPIToken(cmd.Context(), req)
	if err != nil {
		return err
	}
	if opts.JSON {
		err = printJSON(opts.g.io.Out, t)
	} else {
		_, err = fmt.Fprintln(opts.g.io.Out, t.Token)
	}
	if err != nil {
		return err
	}
	expires := "never expires"
	if t.ExpiresAt != nil {
		expires = "expires " + until(opts.g.now(), *t.ExpiresAt)
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Created API token %q (%s, %s). Its secret is shown only this once: store it now.\n", t.Name, t.ID, expires)
	return nil
}

type tokenListOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdTokenList(g *globalOptions, runF func(*tokenListOptions) error) *cobra.Command {
	opts := &tokenListOptions{g: g}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List your API tokens (without their secrets)",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runTokenList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the tokens as JSON")
	return cmd
}

func runTokenList(cmd *cobra.Command, opts *tokenListOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	tokens, err := c.APITokens(cmd.Context())
	if err != nil {
		return err
	}
	if tokens == nil {
		tokens = []api.APIToken{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, tokens)
	}
	now := opts.g.now()
	t := newTable(opts.g.io.Out, "ID", "NAME", "CREATED", "EXPIRES", "LAST USED")
	for _, tok := range tokens {
		expires, used := "never", "never"
		if tok.ExpiresAt != nil {
			expires = until(now, *tok.ExpiresAt)
		}
		if tok.LastUsedAt != nil {
			used = ago(now, *tok.LastUsedAt)
		}
		t.row(tok.ID, tok.Name, timestamp(tok.CreatedAt), expires, used)
	}
	return t.flush()
}

type tokenRevokeOptions struct {
	g *globalOptions

	ID string
}

func newCmdTokenRevoke(g *globalOptions, runF func(*tokenRevokeOptions) error) *cobra.Command {
	opts := &tokenRevokeOptions{g: g}
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Args:  exactArgs("ID"),
		Annotations: map[string]string{
			annotList: "gasper token list",
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runTokenRevoke(cmd, opts)
		},
	}
	return cmd
}

func runTokenRevoke(cmd *cobra.Command, opts *tokenRevokeOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	if err := c.RevokeAPIToken(cmd.Context(), opts.ID); err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Revoked API token %s\n", opts.ID)
	return nil
}
