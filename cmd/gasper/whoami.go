package main

import (
	"github.com/spf13/cobra"
)

type whoAmIOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdWhoAmI(g *globalOptions, runF func(*whoAmIOptions) error) *cobra.Command {
	opts := &whoAmIOptions{g: g}
	cmd := &cobra.Command{
		Use:   "whoami [--json]",
		Short: "Show the user you are logged in as",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runWhoAmI(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the user as JSON")
	return cmd
}

func runWhoAmI(cmd *cobra.Command, opts *whoAmIOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	u, err := c.WhoAmI(cmd.Context())
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, u)
	}
	return keyValues(opts.g.io.Out,
		"Email", u.Email,
		"ID", u.ID,
		"Admin", yesNo(u.Admin),
		"Master", c.BaseURL(),
	)
}
