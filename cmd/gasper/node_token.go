package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
	"gasper/proto"
)

// defaultAgentStateDir is where the join command tells gasper-agent to keep
// its identity; shown in the command it prints, changeable with --state-dir.
const defaultAgentStateDir = "/var/lib/gasper/agent"

type nodeTokenOptions struct {
	g *globalOptions

	TTL       time.Duration
	Roles     []string
	Advertise string
	StateDir  string
	JSON      bool
}

func newCmdNodeToken(g *globalOptions, runF func(*nodeTokenOptions) error) *cobra.Command {
	opts := &nodeTokenOptions{g: g}
	cmd := &cobra.Command{
		Use:   "token [--ttl 1h] [--roles app,db] [--advertise ADDR] [--json]",
		Short: "Create a token for a new node to join with",
		Long: `Create a join token and print it on standard output.

The command to run on the new node is printed on standard error; --roles,
--advertise and --state-dir only change that printed command.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.TTL < 0 {
				return usageErrorf("--ttl must not be negative")
			}
			for _, r := range opts.Roles {
				if !isRole(r) {
					return usageErrorf("unknown role %q (roles: %s)", r, strings.Join(proto.AllRoles, ","))
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runNodeToken(cmd, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.TTL, "ttl", time.Hour, "how long the token can be used (0: the master's default)")
	cmd.Flags().StringSliceVar(&opts.Roles, "roles", proto.AllRoles, "roles of the new node, for the printed command")
	cmd.Flags().StringVar(&opts.Advertise, "advertise", "", "address the new node is reached on, for the printed command")
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", defaultAgentStateDir, "agent state directory, for the printed command")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the token as JSON")
	return adminOnly(cmd, "")
}

func isRole(r string) bool {
	for _, known := range proto.AllRoles {
		if r == known {
			return true
		}
	}
	return false
}

func runNodeToken(cmd *cobra.Command, opts *nodeTokenOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	var req api.CreateJoinTokenRequest
	if opts.TTL > 0 {
		req.TTL = opts.TTL.String()
	}
	jt, err := c.CreateJoinToken(cmd.Context(), req)
	if err != nil {
		return err
	}
	if opts.JSON {
		err = printJSON(opts.g.io.Out, jt)
	} else {
		_, err = fmt.Fprintln(opts.g.io.Out, jt.Token)
	}
	if err != nil {
		return err
	}

	advertise := opts.Advertise
	if advertise == "" {
		advertise = "NODE_ADDRESS"
	}
	errOut := opts.g.io.ErrOut
	fmt.Fprintf(errOut, "Join token %s expires %s (%s). On the new node, run:\n\n", jt.ID, until(opts.g.now(), jt.ExpiresAt), timestamp(jt.ExpiresAt))
	fmt.Fprintf(errOut, "  gasper-agent join %s --token %s --roles %s --advertise %s --state-dir %s\n",
		shellQuote(jt.TunnelAddr), shellQuote(jt.Token), strings.Join(opts.Roles, ","), shellQuote(advertise), shellQuote(opts.StateDir))
	if opts.Advertise == "" {
		fmt.Fprintln(errOut, "\nwith NODE_ADDRESS the address the other nodes reach the new node on.")
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but the
// characters tokens, addresses and paths are usually made of, so the printed
// command can be pasted as is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/,=+@[]") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
