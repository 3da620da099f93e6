package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"gasper/api"
)

func newCmdSSHKey(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ssh-key",
		Aliases: []string{"ssh-keys"},
		Short:   "Manage the SSH public keys that log you in to your apps",
		Long: `Manage the SSH public keys that log you in to your apps: with a key
registered, ssh -p 2222 APP@NODE opens a shell in the app's container and
git push ssh://APP@NODE:2222/APP.git deploys it. See docs/ssh.md.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newCmdSSHKeyAdd(g, nil),
		newCmdSSHKeyList(g, nil),
		newCmdSSHKeyRemove(g, nil),
	)
	return cmd
}

type sshKeyAddOptions struct {
	g *globalOptions

	File string
	Name string
	JSON bool
}

// defaultPublicKeys are tried, in order, when no file is given.
var defaultPublicKeys = []string{"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"}

func newCmdSSHKeyAdd(g *globalOptions, runF func(*sshKeyAddOptions) error) *cobra.Command {
	opts := &sshKeyAddOptions{g: g}
	cmd := &cobra.Command{
		Use:   "add [FILE.pub | -] [--name NAME] [--json]",
		Short: "Register a public key (default: ~/.ssh/id_ed25519.pub, id_ecdsa.pub or id_rsa.pub; - reads stdin)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("unexpected argument %q: give one key file", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runSSHKeyAdd(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "name of the key (default: its comment)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the key as JSON")
	return cmd
}

func runSSHKeyAdd(cmd *cobra.Command, opts *sshKeyAddOptions) error {
	key, err := readPublicKey(opts.g, opts.File)
	if err != nil {
		return err
	}
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	k, err := c.AddSSHKey(cmd.Context(), api.AddSSHKeyRequest{PublicKey: key, Name: opts.Name})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, k)
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Added SSH key %q (%s %s)\n", k.Name, k.Type, k.Fingerprint)
	return nil
}

// readPublicKey reads the key to register from file, stdin ("-") or the
// user's usual key files.
func readPublicKey(g *globalOptions, file string) (string, error) {
	if file == "-" {
		b, err := io.ReadAll(io.LimitReader(g.io.In, 64<<10))
		return string(b), err
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", withHint(err, "give the public key file, like ~/.ssh/id_ed25519.pub")
		}
		return string(b), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", usageErrorf("no key file given and no home directory: give FILE.pub")
	}
	for _, name := range defaultPublicKeys {
		b, err := os.ReadFile(filepath.Join(home, ".ssh", name))
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	e := usageErrorf("no public key found in ~/.ssh (%s)", defaultPublicKeys[0])
	e.hint = "make one with ssh-keygen -t ed25519, or give FILE.pub"
	return "", e
}

type sshKeyListOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdSSHKeyList(g *globalOptions, runF func(*sshKeyListOptions) error) *cobra.Command {
	opts := &sshKeyListOptions{g: g}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List your SSH keys",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runSSHKeyList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the keys as JSON")
	return cmd
}

func runSSHKeyList(cmd *cobra.Command, opts *sshKeyListOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	keys, err := c.SSHKeys(cmd.Context())
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []api.SSHKey{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, keys)
	}
	now := opts.g.now()
	t := newTable(opts.g.io.Out, "ID", "NAME", "TYPE", "FINGERPRINT", "ADDED", "LAST USED")
	for _, k := range keys {
		used := "never"
		if k.LastUsedAt != nil {
			used = ago(now, *k.LastUsedAt)
		}
		t.row(k.ID, k.Name, k.Type, k.Fingerprint, timestamp(k.CreatedAt), used)
	}
	return t.flush()
}

type sshKeyRemoveOptions struct {
	g *globalOptions

	Key string
}

func newCmdSSHKeyRemove(g *globalOptions, runF func(*sshKeyRemoveOptions) error) *cobra.Command {
	opts := &sshKeyRemoveOptions{g: g}
	cmd := &cobra.Command{
		Use:     "remove ID|NAME|FINGERPRINT",
		Aliases: []string{"rm"},
		Short:   "Remove one of your SSH keys",
		Args:    exactArgs("ID|NAME|FINGERPRINT"),
		Annotations: map[string]string{
			annotList: "gasper ssh-key list",
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runSSHKeyRemove(cmd, opts)
		},
	}
	return cmd
}

func runSSHKeyRemove(cmd *cobra.Command, opts *sshKeyRemoveOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	keys, err := c.SSHKeys(cmd.Context())
	if err != nil {
		return err
	}
	var match []api.SSHKey
	for _, k := range keys {
		if k.ID == opts.Key || k.Name == opts.Key || k.Fingerprint == opts.Key {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return &cliError{err: fmt.Errorf("no SSH key %q", opts.Key), hint: "see gasper ssh-key list", code: exitNotFound}
	case 1:
	default:
		return &cliError{err: fmt.Errorf("%d keys are named %q", len(match), opts.Key), hint: "remove by ID (gasper ssh-key list)", code: exitUsage}
	}
	if err := c.RemoveSSHKey(cmd.Context(), match[0].ID); err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Removed SSH key %q (%s)\n", match[0].Name, match[0].Fingerprint)
	return nil
}
