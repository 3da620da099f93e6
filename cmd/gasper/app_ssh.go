package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"gasper/api"
	"gasper/api/client"
)

type appSSHOptions struct {
	g *globalOptions

	Name          string
	AppFlag       string
	PasswordStdin bool
	ClearPassword bool
	PushBranch    string
	JSON          bool
}

func newCmdAppSSH(g *globalOptions, runF func(*appSSHOptions) error) *cobra.Command {
	opts := &appSSHOptions{g: g}
	cmd := &cobra.Command{
		Use:   "ssh NAME [--password-stdin | --clear-password] [--push-branch BRANCH] [--json]",
		Short: "Show how to reach an app over SSH (shell, scp, git push); set its SSH password or push branch",
		Long: `Show the ssh command that opens a shell in the app's container and the git
remote that deploys it, and change the app's SSH settings:

  --password-stdin   read a password from standard input: ssh APP@NODE then
                     accepts it (keys from gasper ssh-key add always work)
  --clear-password   remove the password: only keys log in
  --push-branch B    the branch git push deploys (default main)`,
		Example: `  gasper app ssh web
  echo "$PASSWORD" | gasper app ssh web --password-stdin
  gasper app ssh web --push-branch production`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.PasswordStdin && opts.ClearPassword {
				return usageErrorf("--password-stdin and --clear-password exclude each other")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppSSH(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "set the app's SSH password, read from standard input")
	cmd.Flags().BoolVar(&opts.ClearPassword, "clear-password", false, "remove the app's SSH password")
	cmd.Flags().StringVar(&opts.PushBranch, "push-branch", "", "the branch git push deploys")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the settings as JSON")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppSSH(cmd *cobra.Command, opts *appSSHOptions) error {
	ctx, g := cmd.Context(), opts.g
	c, err := g.client()
	if err != nil {
		return err
	}
	var v *api.AppSSH
	if opts.PasswordStdin || opts.ClearPassword || opts.PushBranch != "" {
		req := api.UpdateAppSSHRequest{ClearPassword: opts.ClearPassword, PushBranch: opts.PushBranch}
		if opts.PasswordStdin {
			if req.Password, err = g.io.ReadAll(); err != nil {
				return err
			}
			if req.Password == "" {
				return usageErrorf("--password-stdin: standard input is empty")
			}
		}
		if v, err = c.UpdateAppSSH(ctx, opts.Name, req); err != nil {
			return err
		}
		fmt.Fprintf(g.io.ErrOut, "Updated the SSH settings of %s\n", opts.Name)
	} else if v, err = c.AppSSH(ctx, opts.Name); err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(g.io.Out, v)
	}
	command, remote := v.Command, v.GitRemote
	if command == "" {
		command, remote = "(no ssh node is up)", "(no ssh node is up)"
	}
	return keyValues(g.io.Out,
		"SSH", command,
		"Git remote", remote,
		"Push branch", v.PushBranch,
		"Password", yesNo(v.HasPassword),
	)
}

// printSSHAccess tells, on stderr, how to reach a new app over SSH. It is
// a courtesy: when it cannot, it says nothing.
func printSSHAccess(ctx context.Context, g *globalOptions, c *client.Client, app string) {
	v, err := c.AppSSH(ctx, app)
	if err != nil || v.Command == "" {
		return
	}
	fmt.Fprintf(g.io.ErrOut, "SSH:        %s\nGit remote: %s (git push %s %s)\n", v.Command, v.GitRemote, v.GitRemote, v.PushBranch)
}
