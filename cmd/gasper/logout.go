package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"gasper/api"
	"gasper/cmd/gasper/internal/config"
)

type logoutOptions struct {
	g *globalOptions
}

func newCmdLogout(g *globalOptions, runF func(*logoutOptions) error) *cobra.Command {
	opts := &logoutOptions{g: g}
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the saved session and forget it",
		Long: `Revoke the saved session on the master, then delete credentials.json.

The local credentials are deleted even when the master cannot be told.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runLogout(cmd, opts)
		},
	}
}

func runLogout(cmd *cobra.Command, opts *logoutOptions) error {
	g := opts.g
	dir, err := g.configDir()
	if err != nil {
		return err
	}
	creds, err := config.LoadCredentials(dir)
	if err != nil {
		return err
	}
	if creds == nil {
		fmt.Fprintln(g.io.ErrOut, "Not logged in.")
		return nil
	}

	// The session's own master, whatever --master says: that is where it
	// must be revoked.
	c := g.newClientForSession(dir, creds)
	callErr := c.Logout(cmd.Context())
	if err := config.RemoveCredentials(dir); err != nil {
		return err
	}
	switch {
	case callErr == nil:
		fmt.Fprintf(g.io.ErrOut, "Logged out of %s\n", creds.Master)
		return nil
	case errors.Is(callErr, api.ErrUnauthorized):
		// The session was already dead on the master: nothing left to revoke.
		fmt.Fprintf(g.io.ErrOut, "Logged out of %s (the session had already ended)\n", creds.Master)
		return nil
	default:
		return withHint(fmt.Errorf("revoke the session on %s: %w", creds.Master, callErr),
			"the local credentials were removed; the session stays valid on the master until it expires")
	}
}
