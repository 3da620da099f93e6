package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
	"gasper/api/client"
	"gasper/cmd/gasper/internal/config"
	"gasper/cmd/gasper/internal/iostreams"
)

// version is the CLI's version, set at build time with
// -ldflags "-X main.version=...".
var version = "dev"

// Environment variables the CLI reads; flags win over them, and they win over
// the config file.
const (
	envMaster = "GASPER_MASTER"
	envToken  = "GASPER_TOKEN"
)

// Main runs the CLI with args (without the program name) and returns the
// process exit code. Tests call it in-process with iostreams.Test.
func Main(args []string, streams *iostreams.IOStreams, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	g := &globalOptions{io: streams, getenv: getenv, now: time.Now, version: version}
	return execute(ctx, g, args)
}

// globalOptions is what every command shares: the streams, the environment,
// the root's persistent flags and the clock.
type globalOptions struct {
	io      *iostreams.IOStreams
	getenv  func(string) string
	now     func() time.Time
	version string

	// master and token are the persistent --master and --token flags.
	master string
	token  string

	// pollInterval is how often waiting commands ask the master how things
	// stand; 0 means every second.
	pollInterval time.Duration

	// tokenFromUser is set once client() chose a token given by --token or
	// GASPER_TOKEN rather than the saved session; errors are explained
	// differently then.
	tokenFromUser bool
}

const rootLong = `gasper manages a Gasper cloud through its master's REST API.

Start with: gasper login --master http://MASTER:7080

Settings come from flags, then GASPER_MASTER / GASPER_TOKEN, then the config
directory (GASPER_CONFIG_DIR, default ~/.config/gasper): config.yaml holds the
master URL, credentials.json the session.

Exit codes:
  0  success
  1  error
  2  usage error (bad flags or arguments)
  3  not logged in, or authentication failed
  4  permission denied
  5  not found
  6  master unreachable`

func newRootCmd(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:           "gasper",
		Short:         "Manage a Gasper cloud",
		Long:          rootLong,
		Version:       g.version,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
	}
	root.SetIn(g.io.In)
	root.SetOut(g.io.Out)
	root.SetErr(g.io.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	root.PersistentFlags().StringVar(&g.master, "master", "", "master URL (overrides "+envMaster+" and config.yaml)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API token to authenticate with (overrides "+envToken+" and the saved session)")

	root.AddCommand(
		newCmdLogin(g, nil),
		newCmdLogout(g, nil),
		newCmdWhoAmI(g, nil),
		newCmdApp(g),
		newCmdDB(g),
		newCmdNode(g),
		newCmdUser(g),
		newCmdToken(g),
		newCmdCA(g, nil),
		newCmdCert(g),
		newCmdSSHKey(g),
		newCmdVersion(g),
		newCmdDashboard(g, nil),
	)
	return root
}

// groupRun is the RunE of commands that only group others: with no argument
// it shows help, with one it is a usage error (cobra would otherwise show
// help and succeed on "gasper node lsit").
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	err := usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, applied only in its Find
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		err.hint = "did you mean: " + cmd.CommandPath() + " " + s[0]
	}
	return err
}

// execute runs the root command and turns its outcome into an exit code,
// printing any error: this is the one place errors reach the user.
func execute(ctx context.Context, g *globalOptions, args []string) int {
	root := newRootCmd(g)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var st exitStatus
	if errors.As(err, &st) { // a remote command's status: it said what it had to
		return int(st)
	}
	msg, hint, code := explain(g, cmd, err)
	fmt.Fprintf(g.io.ErrOut, "error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(g.io.ErrOut, "hint: %s\n", hint)
	}
	return code
}

// configDir is the CLI's config directory.
func (g *globalOptions) configDir() (string, error) {
	return config.Dir(g.getenv)
}

// masterURL returns the master URL by precedence: --master, GASPER_MASTER,
// config.yaml; "" when none is set.
func (g *globalOptions) masterURL() (string, error) {
	if g.master != "" {
		return client.NormalizeURL(g.master), nil
	}
	if m := g.getenv(envMaster); m != "" {
		return client.NormalizeURL(m), nil
	}
	dir, err := g.configDir()
	if err != nil {
		return "", err
	}
	c, err := config.Load(dir)
	if err != nil {
		return "", err
	}
	return client.NormalizeURL(c.Master), nil
}

// httpClient is the HTTP client every command uses: it gives up quickly on
// a master that does not answer a connection, never on a slow answer's body.
func httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// newClient returns an unauthenticated client of master.
func (g *globalOptions) newClient(master string, opts ...client.Option) *client.Client {
	base := []client.Option{client.WithHTTPClient(httpClient()), client.WithUserAgent("gasper-cli/" + g.version)}
	return client.New(master, append(base, opts...)...)
}

// client returns a client of the chosen master, authenticated with --token or
// GASPER_TOKEN if given, else with the saved session, which it refreshes and
// re-saves as needed.
func (g *globalOptions) client() (*client.Client, error) {
	master, err := g.masterURL()
	if err != nil {
		return nil, err
	}
	if master == "" {
		return nil, errNotLoggedIn("")
	}
	token := g.token
	if token == "" {
		token = g.getenv(envToken)
	}
	if token != "" {
		g.tokenFromUser = true
		return g.newClient(master, client.WithToken(token)), nil
	}

	dir, err := g.configDir()
	if err != nil {
		return nil, err
	}
	creds, err := config.LoadCredentials(dir)
	if err != nil {
		return nil, err
	}
	if creds == nil || creds.AccessToken == "" {
		return nil, errNotLoggedIn(master)
	}
	if client.NormalizeURL(creds.Master) != master {
		// Never send one master's tokens to another.
		return nil, &cliError{
			err:  fmt.Errorf("not logged in to %s (the saved session is for %s)", master, creds.Master),
			hint: "run: gasper login --master " + master,
			code: exitAuth,
		}
	}
	return g.newClientForSession(dir, creds), nil
}

// newClientForSession returns a client of the session's master that saves
// every refreshed token pair back to credentials.json in dir.
func (g *globalOptions) newClientForSession(dir string, creds *config.Credentials) *client.Client {
	save := func(s api.Session) error {
		return config.SaveCredentials(dir, config.Credentials{Master: creds.Master, Session: s})
	}
	return g.newClient(creds.Master, client.WithSession(creds.Session, save))
}

// errNotLoggedIn is the error of a command that needs a session and has none.
func errNotLoggedIn(master string) error {
	if master == "" {
		master = "URL"
	}
	return &cliError{err: fmt.Errorf("not logged in"), hint: "run: gasper login --master " + master, code: exitAuth}
}

// exactArgs requires one positional argument per name, as a usage error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(args) < len(names) {
			return usageErrorf("missing %s", strings.Join(names[len(args):], " "))
		}
		return usageErrorf("unexpected argument %q", args[len(names)])
	}
}

// noArgs refuses positional arguments, as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	return exactArgs()(cmd, args)
}
