package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"gasper/api/client"
	"gasper/cmd/gasper/internal/sourcearchive"
	"gasper/tui"
)

// The dashboard talks to the master through the same client as every
// command.
var _ tui.Client = (*client.Client)(nil)

type dashboardOptions struct {
	g *globalOptions

	Interval time.Duration
	NoColor  bool
}

func newCmdDashboard(g *globalOptions, runF func(*dashboardOptions) error) *cobra.Command {
	opts := &dashboardOptions{g: g}
	cmd := &cobra.Command{
		Use:   "dashboard [--interval 2s] [--no-color]",
		Short: "A live terminal dashboard of your apps, databases and nodes",
		Long: `Show your apps and databases (admins: also nodes and users) in tables
that update live; open one with enter for its details, follow an app's logs
with l, and act from the keyboard: n creates, r restarts, b rebuilds, u
rolls back, d deletes (after you type the name), a and x link and unlink a
database. ? lists every key; q quits.

It needs a terminal; scripts use the other commands' --json. Colours follow
the terminal and are off when NO_COLOR is set or with --no-color.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval < 200*time.Millisecond {
				return usageErrorf("--interval %s is too short: use at least 200ms", opts.Interval)
			}
			if g.getenv("NO_COLOR") != "" {
				opts.NoColor = true
			}
			if runF != nil {
				return runF(opts)
			}
			return runDashboard(cmd, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "how often the lists are fetched again")
	cmd.Flags().BoolVar(&opts.NoColor, "no-color", false, "draw without colours (also: NO_COLOR=1)")
	return cmd
}

func runDashboard(cmd *cobra.Command, opts *dashboardOptions) error {
	g := opts.g
	if !g.io.IsStdinTTY() || !g.io.IsStdoutTTY() {
		return withHint(errors.New("gasper dashboard needs a terminal (standard input and output)"),
			"for scripts, list with: gasper app list --json")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	// Fail here, with the CLI's errors and hints, rather than inside the
	// dashboard when the master is unreachable or the session is gone.
	if _, err := c.WhoAmI(cmd.Context()); err != nil {
		return err
	}
	m := tui.New(tui.Config{Client: c, Pack: packForDashboard, Master: c.BaseURL(), Interval: opts.Interval,
		NoColor: opts.NoColor, Context: cmd.Context()})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(g.io.In), tea.WithOutput(g.io.Out), tea.WithContext(cmd.Context()))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// packForDashboard packs dir as `gasper app create --from` does, into a
// temporary file (seekable, so an expired session's upload is retried),
// without printing: the dashboard owns the screen.
func packForDashboard(dir string) (io.Reader, func(), error) {
	f, err := os.CreateTemp("", "gasper-source-*.tar.gz")
	if err != nil {
		return nil, nil, fmt.Errorf("create the source archive: %w", err)
	}
	done := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := sourcearchive.Write(f, dir, sourcearchive.MaxSize); err != nil {
		done()
		var tl *sourcearchive.TooLargeError
		if errors.As(err, &tl) {
			return nil, nil, fmt.Errorf("pack %s: %w (leave out what the build does not need with a .gasperignore file)", dir, err)
		}
		return nil, nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		done()
		return nil, nil, fmt.Errorf("rewind the source archive: %w", err)
	}
	return f, done, nil
}
