package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"gasper/api"
)

func newCmdUser(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage user accounts (admin)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(
		newCmdUserCreate(g, nil),
		newCmdUserList(g, nil),
		newCmdUserDelete(g, nil),
		newCmdUserAdmin(g, true, nil),
		newCmdUserAdmin(g, false, nil),
	)
	return cmd
}

type userCreateOptions struct {
	g *globalOptions

	Email         string
	Admin         bool
	PasswordStdin bool
	JSON          bool
}

func newCmdUserCreate(g *globalOptions, runF func(*userCreateOptions) error) *cobra.Command {
	opts := &userCreateOptions{g: g}
	cmd := &cobra.Command{
		Use:   "create EMAIL [--admin] [--password-stdin]",
		Short: "Create a user",
		Long: `Create a user. On a terminal the password is asked twice, without echo;
otherwise pass it on standard input with --password-stdin.`,
		Args: exactArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Email = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runUserCreate(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Admin, "admin", false, "make the user an admin")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the new user as JSON")
	return adminOnly(cmd, "")
}

func runUserCreate(cmd *cobra.Command, opts *userCreateOptions) error {
	io := opts.g.io
	var password string
	switch {
	case opts.PasswordStdin:
		p, err := io.ReadAll()
		if err != nil {
			return err
		}
		password = p
	case io.CanPrompt():
		p1, err := io.PromptPassword("Password for " + opts.Email + ": ")
		if err != nil {
			return err
		}
		p2, err := io.PromptPassword("Repeat the password: ")
		if err != nil {
			return err
		}
		if p1 != p2 {
			return errors.New("the passwords do not match")
		}
		password = p1
	default:
		return usageErrorf("--password-stdin is required when standard input is not a terminal")
	}
	if password == "" {
		return usageErrorf("empty password")
	}

	c, err := opts.g.client()
	if err != nil {
		return err
	}
	u, err := c.CreateUser(cmd.Context(), api.CreateUserRequest{Email: opts.Email, Password: password, Admin: opts.Admin})
	if err != nil {
		return err
	}
	if opts.JSON {
		if err := printJSON(io.Out, u); err != nil {
			return err
		}
	}
	kind := "user"
	if u.Admin {
		kind = "admin"
	}
	fmt.Fprintf(io.ErrOut, "Created %s %s (%s)\n", kind, u.Email, u.ID)
	return nil
}

type userListOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdUserList(g *globalOptions, runF func(*userListOptions) error) *cobra.Command {
	opts := &userListOptions{g: g}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List the users",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runUserList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the users as JSON")
	return adminOnly(cmd, "")
}

func runUserList(cmd *cobra.Command, opts *userListOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	users, err := c.Users(cmd.Context())
	if err != nil {
		return err
	}
	if users == nil {
		users = []api.User{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, users)
	}
	t := newTable(opts.g.io.Out, "ID", "EMAIL", "ADMIN", "CREATED")
	for _, u := range users {
		t.row(u.ID, u.Email, yesNo(u.Admin), timestamp(u.CreatedAt))
	}
	return t.flush()
}

type userDeleteOptions struct {
	g *globalOptions

	User string
	Yes  bool
}

func newCmdUserDelete(g *globalOptions, runF func(*userDeleteOptions) error) *cobra.Command {
	opts := &userDeleteOptions{g: g}
	cmd := &cobra.Command{
		Use:     "delete EMAIL [--yes]",
		Aliases: []string{"rm"},
		Short:   "Delete a user",
		Args:    exactArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.User = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runUserDelete(cmd, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return adminOnly(cmd, "gasper user list")
}

func runUserDelete(cmd *cobra.Command, opts *userDeleteOptions) error {
	if err := confirm(opts.g, opts.Yes, fmt.Sprintf("Delete user %s?", opts.User)); err != nil {
		return err
	}
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	if err := c.DeleteUser(cmd.Context(), opts.User); err != nil {
		if errors.Is(err, api.ErrBadRequest) {
			// The master refuses to delete the caller's own account.
			return withHint(err, "another admin must delete this account")
		}
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Deleted user %s\n", opts.User)
	return nil
}

type userAdminOptions struct {
	g *globalOptions

	User  string
	Grant bool
}

// newCmdUserAdmin builds grant-admin (grant) or revoke-admin.
func newCmdUserAdmin(g *globalOptions, grant bool, runF func(*userAdminOptions) error) *cobra.Command {
	opts := &userAdminOptions{g: g, Grant: grant}
	use, short := "revoke-admin EMAIL", "Take admin rights from a user"
	if grant {
		use, short = "grant-admin EMAIL", "Give a user admin rights"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.User = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runUserAdmin(cmd, opts)
		},
	}
	return adminOnly(cmd, "gasper user list")
}

func runUserAdmin(cmd *cobra.Command, opts *userAdminOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	if opts.Grant {
		u, err := c.GrantAdmin(cmd.Context(), opts.User)
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.g.io.ErrOut, "%s is now an admin\n", u.Email)
		return nil
	}
	u, err := c.RevokeAdmin(cmd.Context(), opts.User)
	if errors.Is(err, api.ErrConflict) {
		return withHint(err, "make another user an admin first: gasper user grant-admin EMAIL")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "%s is no longer an admin\n", u.Email)
	return nil
}
