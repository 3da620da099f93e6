package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gasper/api/client"
	"gasper/cmd/gasper/internal/config"
)

type loginOptions struct {
	g *globalOptions

	Email         string
	PasswordStdin bool
}

func newCmdLogin(g *globalOptions, runF func(*loginOptions) error) *cobra.Command {
	opts := &loginOptions{g: g}
	cmd := &cobra.Command{
		Use:   "login [--master URL] [--email EMAIL] [--password-stdin]",
		Short: "Log in to a master and save the session",
		Long: `Log in to a master with an email and password.

On a terminal, login asks for what the flags do not give (the password without
echo). In scripts, pass --email and the password on standard input:

  echo "$PASSWORD" | gasper login --master http://127.0.0.1:7080 --email me@example.com --password-stdin

The master URL and email are saved in config.yaml, the session in
credentials.json (mode 0600), both in the config directory.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runLogin(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Email, "email", "", "email to log in with")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func runLogin(cmd *cobra.Command, opts *loginOptions) error {
	g, io := opts.g, opts.g.io
	master, err := g.masterURL()
	if err != nil {
		return err
	}
	if master == "" {
		return &cliError{err: fmt.Errorf("no master URL given"), hint: "run: gasper login --master http://MASTER:7080", code: exitUsage}
	}
	if opts.PasswordStdin && opts.Email == "" {
		return usageErrorf("--password-stdin needs --email")
	}
	dir, err := g.configDir()
	if err != nil {
		return err
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return err
	}

	email := opts.Email
	if email == "" {
		if !io.CanPrompt() {
			return usageErrorf("--email is required when standard input is not a terminal")
		}
		label := "Email: "
		if cfg.Email != "" && client.NormalizeURL(cfg.Master) == master {
			label = fmt.Sprintf("Email [%s]: ", cfg.Email)
		}
		if email, err = io.Prompt(label); err != nil {
			return err
		}
		if email == "" && client.NormalizeURL(cfg.Master) == master {
			email = cfg.Email
		}
		if email == "" {
			return usageErrorf("no email given")
		}
	}

	var password string
	switch {
	case opts.PasswordStdin:
		password, err = io.ReadAll()
	case io.CanPrompt():
		password, err = io.PromptPassword("Password: ")
	default:
		return usageErrorf("--password-stdin is required when standard input is not a terminal")
	}
	if err != nil {
		return err
	}
	if password == "" {
		return usageErrorf("empty password")
	}

	s, err := g.newClient(master).Login(cmd.Context(), email, password)
	if err != nil {
		return err
	}
	if err := config.SaveCredentials(dir, config.Credentials{Master: master, Session: *s}); err != nil {
		return err
	}
	cfg.Master, cfg.Email = master, s.User.Email
	if cfg.Email == "" {
		cfg.Email = email
	}
	if err := config.Save(dir, cfg); err != nil {
		return err
	}
	fmt.Fprintf(io.ErrOut, "Logged in to %s as %s\n", master, cfg.Email)
	return nil
}
