package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
	"gasper/api/client"
)

// dbOptions are the options of the db commands; each uses what it needs.
type dbOptions struct {
	g *globalOptions

	JSON         bool
	Memory       string
	Node         string
	NoWait       bool
	ShowPassword bool
	WithBackups  bool
	Yes          bool
	Follow       bool
	Tail         int
	Backup       string
	Into         string
	Download     string
	Output       string
}

func newCmdDB(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "db",
		Aliases: []string{"dbs", "database", "databases"},
		Short:   "Create and manage databases (MySQL, PostgreSQL, Redis, MongoDB)",
		Long: `Create and manage databases: each runs its own server (MySQL is MariaDB,
MongoDB is FerretDB) in its own container on a node with the db role, with
its own volume and memory limit, reachable as NAME.db.DOMAIN.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	o := func() *dbOptions { return &dbOptions{g: g} }
	cmd.AddCommand(newCmdDBCreate(o()), newCmdDBList(o()), newCmdDBInfo(o()), newCmdDBDelete(o()),
		newCmdDBRestart(o()), newCmdDBLogs(o()), newCmdDBLink(o(), true), newCmdDBLink(o(), false),
		newCmdDBBackup(o()), newCmdDBBackups(o()), newCmdDBRestore(o()), newCmdDBDownload(o()))
	return cmd
}

// dbCommand marks cmd as acting on databases: a not-found error hints at the list.
func dbCommand(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotList] = "gasper db list"
	return cmd
}

// validDBName checks a database name as the master does.
func validDBName(name string) error {
	if err := validateAppName(name); err != nil {
		return usageErrorf("invalid database name %q: use 1-60 lowercase letters, digits and '-', not starting or ending with '-'", name)
	}
	if len(name) > 60 {
		return usageErrorf("database name %q is too long: use at most 60 characters", name)
	}
	return nil
}

func newCmdDBCreate(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create ENGINE NAME [--memory 256M] [--node NODE]",
		Short: "Create a database and print how to connect to it",
		Long: `Create a database and print how to connect to it. ENGINE is one of
` + strings.Join(api.Engines, ", ") + `.

The password is generated and shown now; later only with
gasper db info NAME --show-password.`,
		Example: "  gasper db create postgresql shop-db\n  gasper db create redis cache --memory 128M",
		Args:    exactArgs("ENGINE", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			engine, name := args[0], args[1]
			if !slices.Contains(api.Engines, engine) {
				return usageErrorf("no database engine %q: use one of %s", engine, strings.Join(api.Engines, ", "))
			}
			if err := validDBName(name); err != nil {
				return err
			}
			req := api.CreateDatabaseRequest{Name: name, Engine: engine, Node: opts.Node}
			if opts.Memory != "" {
				n, err := api.ParseSize(opts.Memory)
				if err != nil {
					return usageErrorf("--memory: %v", err)
				}
				req.MemoryBytes = n
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			d, err := createDB(cmd.Context(), opts, c, req)
			if err != nil {
				return err
			}
			return printDB(opts, d)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Memory, "memory", "", "memory limit of the server, like 256M or 1G (default: the master's)")
	f.StringVar(&opts.Node, "node", "", "put it on this node (id or hostname) instead of the one with the most memory free")
	f.BoolVar(&opts.NoWait, "no-wait", false, "return at once instead of waiting until it is ready")
	f.BoolVar(&opts.JSON, "json", false, "print the database as JSON")
	return cmd
}

// createDB creates a database and, unless told not to, waits until it is ready, showing how long
// it has waited; the password of the answer is kept.
func createDB(ctx context.Context, opts *dbOptions, c *client.Client, req api.CreateDatabaseRequest) (*api.Database, error) {
	d, err := c.CreateDatabase(ctx, req)
	if err != nil {
		return nil, err
	}
	if opts.NoWait {
		return d, nil
	}
	pw := d.Password
	ready, err := waitDB(ctx, opts, c, d.Name, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	// The URL of the answer has the password but not yet the port; the ready one the reverse.
	ready.Password = pw
	ready.URL = strings.Replace(ready.URL, "****", pw, 1)
	return ready, nil
}

// waitDB polls a database until it is ready, failed, or the wait is over, with a spinner and the
// time elapsed on a terminal and one line per change elsewhere.
func waitDB(ctx context.Context, opts *dbOptions, c *client.Client, name string, limit time.Duration) (*api.Database, error) {
	start := time.Now()
	p := newProgress(opts.g.io.ErrOut, opts.g.io.IsStderrTTY(), opts.g.now)
	defer p.close()
	for {
		d, err := c.Database(ctx, name, false)
		if err != nil {
			return nil, err
		}
		switch d.Status {
		case api.DBReady:
			p.close()
			fmt.Fprintf(opts.g.io.ErrOut, "Database %s is ready (%s)\n", name, time.Since(start).Round(100*time.Millisecond))
			return d, nil
		case api.DBFailed:
			return nil, fmt.Errorf("database %s failed: %s\n%s", name, d.StatusReason, strings.TrimSpace(d.LastLog))
		}
		p.setStep(fmt.Sprintf("waiting for %s: %s", name, statusWithReason(d.Status, d.StatusReason)))
		if time.Since(start) > limit {
			return nil, fmt.Errorf("database %s is still %s after %s; see gasper db info %s", name, d.Status, limit, name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// withProgress runs f under a spinner saying step (a plain line off a terminal).
func withProgress(opts *dbOptions, step string, f func() error) error {
	p := newProgress(opts.g.io.ErrOut, opts.g.io.IsStderrTTY(), opts.g.now)
	p.setStep(step)
	err := f()
	p.close()
	return err
}

func printDB(opts *dbOptions, d *api.Database) error {
	if opts.JSON {
		return printJSON(opts.g.io.Out, d)
	}
	kv := []string{"Name", d.Name, "Engine", d.Engine, "Status", statusWithReason(d.Status, d.StatusReason),
		"Owner", d.Owner, "Node", dash(d.NodeName), "Host", d.Host, "Port", dbPortLabel(d.Port),
		"Address", dash(d.Address), "Database", d.DBName, "User", d.User}
	if d.Password != "" {
		kv = append(kv, "Password", d.Password)
	}
	kv = append(kv, "URL", d.URL, "Memory", humanBytes(uint64(d.MemoryBytes)), "Linked apps", dash(strings.Join(d.Links, ", ")),
		"Created", timestamp(d.CreatedAt))
	if err := keyValues(opts.g.io.Out, kv...); err != nil {
		return err
	}
	if d.LastLog != "" {
		fmt.Fprintf(opts.g.io.Out, "\nLast log lines:\n%s\n", strings.TrimRight(d.LastLog, "\n"))
	}
	return nil
}

func statusWithReason(status, reason string) string {
	if reason == "" {
		return status
	}
	return status + " (" + reason + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dbPortLabel(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

func newCmdDBList(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List your databases (admins: every database)",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			ds, err := c.Databases(cmd.Context())
			if err != nil {
				return err
			}
			if ds == nil {
				ds = []api.Database{}
			}
			if opts.JSON {
				return printJSON(opts.g.io.Out, ds)
			}
			if len(ds) == 0 {
				fmt.Fprintln(opts.g.io.ErrOut, "No databases yet; create one with: gasper db create postgresql NAME")
				return nil
			}
			t := newTable(opts.g.io.Out, "NAME", "ENGINE", "STATUS", "NODE", "ADDRESS", "MEMORY", "LINKED", "CREATED")
			now := opts.g.now()
			for _, d := range ds {
				t.row(d.Name, d.Engine, d.Status, dash(d.NodeName), dash(d.Address), humanBytes(uint64(d.MemoryBytes)),
					dash(strings.Join(d.Links, ",")), ago(now, d.CreatedAt))
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the databases as JSON")
	return cmd
}

func newCmdDBInfo(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info NAME [--show-password] [--json]",
		Short: "Show a database: status, node, how to connect",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validDBName(args[0]); err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			d, err := c.Database(cmd.Context(), args[0], opts.ShowPassword)
			if err != nil {
				return err
			}
			return printDB(opts, d)
		},
	}
	cmd.Flags().BoolVar(&opts.ShowPassword, "show-password", false, "show the password and the URL with it")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the database as JSON")
	return dbCommand(cmd)
}

func newCmdDBDelete(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME [--with-backups] [--yes]",
		Aliases: []string{"rm"},
		Short:   "Delete a database with its data (and its backups, if asked)",
		Long: `Delete a database with its container and data. Linked apps lose its
variables. Its backups stay, restorable into a new database, unless
--with-backups is given. On a terminal you confirm by typing the name;
without one the command refuses to run unless given --yes.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := validDBName(name); err != nil {
				return err
			}
			g := opts.g
			if !opts.Yes {
				if !g.io.CanPrompt() {
					return usageErrorf("refusing to delete %s without --yes: standard input is not a terminal", name)
				}
				fmt.Fprintf(g.io.ErrOut, "This deletes database %s and all its data; it cannot be undone.\n", name)
				ans, err := g.io.Prompt("Type the database's name to confirm: ")
				if err != nil {
					return err
				}
				if ans != name {
					return fmt.Errorf("aborted: %q is not %q", ans, name)
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DeleteDatabase(cmd.Context(), name, opts.WithBackups); err != nil {
				return err
			}
			fmt.Fprintf(g.io.ErrOut, "Deleted database %s\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.WithBackups, "with-backups", false, "delete its backups too")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return dbCommand(cmd)
}

func newCmdDBRestart(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a database's server (the data stays) and wait until it is ready",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validDBName(args[0]); err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			if err := c.RestartDatabase(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = waitDB(cmd.Context(), opts, c, args[0], 5*time.Minute)
			return err
		},
	}
	return dbCommand(cmd)
}

func newCmdDBLogs(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs NAME [-f] [--tail N]",
		Short: "Show a database server's logs",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validDBName(args[0]); err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			rc, err := c.DatabaseLogs(cmd.Context(), args[0], opts.Follow, opts.Tail)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(opts.g.io.Out, rc)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVar(&opts.Tail, "tail", 100, "print the last N lines")
	return dbCommand(cmd)
}

func newCmdDBLink(opts *dbOptions, link bool) *cobra.Command {
	use, short := "link DB APP", "Give an app the database's URL (DATABASE_URL and the engine's own variable) and redeploy it"
	if !link {
		use, short = "unlink DB APP", "Take the database's variables from an app and redeploy it"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs("DB", "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validDBName(args[0]); err != nil {
				return err
			}
			if err := validateAppName(args[1]); err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			if !link {
				if err := c.UnlinkDatabase(cmd.Context(), args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(opts.g.io.ErrOut, "Unlinked %s from app %s; the app is redeploying\n", args[0], args[1])
				return nil
			}
			d, err := c.LinkDatabase(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.g.io.ErrOut, "Linked %s to app %s: it gets DATABASE_URL and %s_URL; the app is redeploying\n",
				d.Name, args[1], engineVar(d.Engine))
			return nil
		},
	}
	return dbCommand(cmd)
}

func engineVar(engine string) string {
	switch engine {
	case "postgresql":
		return "POSTGRES"
	default:
		return strings.ToUpper(engine)
	}
}

func newCmdDBBackup(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup NAME [--download FILE] [--json]",
		Short: "Take a consistent dump of a database, stored on the master",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validDBName(args[0]); err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			var b *api.Backup
			err = withProgress(opts, "backing up "+args[0], func() (err error) {
				b, err = c.BackupDatabase(cmd.Context(), args[0])
				return err
			})
			if err != nil {
				return err
			}
			if opts.Download != "" {
				if err := download(cmd.Context(), opts, c, b.ID, opts.Download); err != nil {
					return err
				}
			}
			if opts.JSON {
				return printJSON(opts.g.io.Out, b)
			}
			return keyValues(opts.g.io.Out, "Backup", b.ID, "Database", b.Database, "Size", humanBytes(uint64(b.Size)),
				"SHA-256", b.SHA256, "Took", b.Duration, "Restore", "gasper db restore "+b.Database+" --backup "+b.ID)
		},
	}
	cmd.Flags().StringVar(&opts.Download, "download", "", "also save the dump to FILE ('-': standard output)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the backup as JSON")
	return dbCommand(cmd)
}

func download(ctx context.Context, opts *dbOptions, c *client.Client, id, file string) error {
	rc, err := c.DownloadBackup(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	if file == "-" {
		_, err = io.Copy(opts.g.io.Out, rc)
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("saving backup %s to %s: %w", id, file, err)
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Saved backup %s to %s (%s)\n", id, file, humanBytes(uint64(n)))
	return nil
}

func newCmdDBBackups(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backups NAME [--json]",
		Short: "List a database's backups, newest first",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validDBName(args[0]); err != nil {
				return err
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			bs, err := c.Backups(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if bs == nil {
				bs = []api.Backup{}
			}
			if opts.JSON {
				return printJSON(opts.g.io.Out, bs)
			}
			if len(bs) == 0 {
				fmt.Fprintf(opts.g.io.ErrOut, "No backups of %s yet; take one with: gasper db backup %s\n", args[0], args[0])
				return nil
			}
			t := newTable(opts.g.io.Out, "ID", "SIZE", "TOOK", "CREATED")
			now := opts.g.now()
			for _, b := range bs {
				t.row(b.ID, humanBytes(uint64(b.Size)), b.Duration, ago(now, b.CreatedAt))
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the backups as JSON")
	return dbCommand(cmd)
}

func newCmdDBRestore(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore NAME --backup ID [--into NEW [--node NODE]]",
		Short: "Load a backup into a database (or into a new one), replacing its data",
		Long: `Load a backup into a database, replacing its data. With --into, a new
database of the same engine is created first (on --node, if given) and
the backup is loaded there; its credentials are printed as by db create.`,
		Example: "  gasper db restore shop-db --backup b-1a2b3c4d5e6f\n  gasper db restore shop-db --backup b-1a2b3c4d5e6f --into shop-copy --node node2",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := validDBName(name); err != nil {
				return err
			}
			if opts.Backup == "" {
				return usageErrorf("missing --backup ID (gasper db backups %s lists them)", name)
			}
			if opts.Into != "" {
				if err := validDBName(opts.Into); err != nil {
					return err
				}
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			target := name
			var created *api.Database
			if opts.Into != "" {
				bs, err := c.Backups(cmd.Context(), name)
				if err != nil {
					return err
				}
				i := slices.IndexFunc(bs, func(b api.Backup) bool { return b.ID == opts.Backup })
				if i < 0 {
					return fmt.Errorf("backup %s is not a backup of %s (gasper db backups %s lists them)", opts.Backup, name, name)
				}
				if created, err = createDB(cmd.Context(), opts, c, api.CreateDatabaseRequest{Name: opts.Into, Engine: bs[i].Engine, Node: opts.Node}); err != nil {
					return err
				}
				target = opts.Into
			}
			start := time.Now()
			if err := withProgress(opts, "restoring backup "+opts.Backup+" into "+target, func() error {
				return c.RestoreDatabase(cmd.Context(), target, opts.Backup)
			}); err != nil {
				return err
			}
			fmt.Fprintf(opts.g.io.ErrOut, "Restored %s into %s (%s)\n", opts.Backup, target, time.Since(start).Round(100*time.Millisecond))
			if created != nil {
				return printDB(opts, created)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Backup, "backup", "", "the backup's id")
	f.StringVar(&opts.Into, "into", "", "create this new database and restore into it instead")
	f.StringVar(&opts.Node, "node", "", "with --into: the node of the new database")
	f.BoolVar(&opts.JSON, "json", false, "with --into: print the new database as JSON")
	return dbCommand(cmd)
}

func newCmdDBDownload(opts *dbOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "download BACKUP_ID [-o FILE]",
		Short: "Save a backup's dump to a file (or standard output)",
		Args:  exactArgs("BACKUP_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			out := opts.Output
			if out == "" {
				out = args[0] + ".dump"
			}
			return download(cmd.Context(), opts, c, args[0], out)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "file to write ('-': standard output; default ID.dump)")
	return cmd
}
