package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gasper/proto"
)

type appExecOptions struct {
	g *globalOptions

	Name        string
	AppFlag     string
	Args        []string
	Instance    int
	TTY         bool
	Interactive bool
}

func newCmdAppExec(g *globalOptions, runF func(*appExecOptions) error) *cobra.Command {
	opts := &appExecOptions{g: g}
	cmd := &cobra.Command{
		Use:   "exec NAME [--instance N] [-t] [-i] -- COMMAND [ARG...]",
		Short: "Run a command in an app's container; its exit status becomes gasper's",
		Long: `Run a command in one of the app's containers, through the master, on
whichever node it runs. Standard output and error stay apart and the
command's exit status is gasper's. Standard input is passed on when it is not
a terminal (a pipe or a file), or with -i; -t gives the command a terminal.`,
		Example: `  gasper app exec web -- ls -la /app
  gasper app exec web --instance 2 -- cat /tmp/state
  pg_dump ... | gasper app exec web -- sh -c 'cat > /tmp/dump.sql'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, rest, err := takeApp(opts.AppFlag, args, 1, -1, "COMMAND (after --)")
			if err != nil {
				return err
			}
			opts.Name, opts.Args = name, rest
			if opts.Instance < 0 {
				return usageErrorf("--instance must be a number from 1")
			}
			if opts.TTY && !g.io.IsStdinTTY() {
				return usageErrorf("-t needs a terminal on standard input")
			}
			if runF != nil {
				return runF(opts)
			}
			forward := opts.Interactive || opts.TTY || !g.io.IsStdinTTY()
			return runExec(cmd.Context(), g, opts.Name, opts.Instance, proto.ExecStart{Args: opts.Args, TTY: opts.TTY}, forward)
		},
	}
	cmd.Flags().IntVar(&opts.Instance, "instance", 0, "the instance, numbered as gasper app info lists them (default: a healthy one)")
	cmd.Flags().BoolVarP(&opts.TTY, "tty", "t", false, "give the command a terminal")
	cmd.Flags().BoolVarP(&opts.Interactive, "interactive", "i", false, "pass standard input on even when it is a terminal")
	return appCommand(cmd, &opts.AppFlag)
}

type appShellOptions struct {
	g *globalOptions

	Name     string
	AppFlag  string
	Instance int
}

func newCmdAppShell(g *globalOptions, runF func(*appShellOptions) error) *cobra.Command {
	opts := &appShellOptions{g: g}
	cmd := &cobra.Command{
		Use:   "shell NAME [--instance N]",
		Short: "Open an interactive shell in an app's container",
		Long: `Open an interactive shell (bash if the image has it, else sh) in one of
the app's containers, through the master, on whichever node it runs. The
shell has a terminal that follows the size of yours. Exit it to come back.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.Instance < 0 {
				return usageErrorf("--instance must be a number from 1")
			}
			if !g.io.IsStdinTTY() {
				e := usageErrorf("gasper app shell needs a terminal on standard input")
				e.hint = "run one command with: gasper app exec " + name + " -- COMMAND"
				return e
			}
			if runF != nil {
				return runF(opts)
			}
			return runExec(cmd.Context(), g, opts.Name, opts.Instance, proto.ExecStart{TTY: true}, true)
		},
	}
	cmd.Flags().IntVar(&opts.Instance, "instance", 0, "the instance, numbered as gasper app info lists them (default: a healthy one)")
	return appCommand(cmd, &opts.AppFlag)
}

// exitStatus is a remote command's exit status, which becomes gasper's own
// without an error message.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// runExec runs one exec stream to its end.
func runExec(ctx context.Context, g *globalOptions, app string, instance int, start proto.ExecStart, forwardStdin bool) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	stream, err := c.Exec(ctx, app, instance)
	if err != nil {
		return err
	}
	defer stream.Close()
	out := proto.NewFrameWriter(stream)

	fd := g.io.StdinFd()
	if start.TTY {
		start.Term = g.getenv("TERM")
		if w, h, err := term.GetSize(fd); err == nil {
			start.Size = proto.WindowSize{Cols: uint32(w), Rows: uint32(h)}
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer term.Restore(fd, old)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(fd); err == nil {
					out.WriteJSON(proto.FrameResize, proto.WindowSize{Cols: uint32(w), Rows: uint32(h)})
				}
			}
		}()
	}
	if err := out.WriteJSON(proto.FrameStart, start); err != nil {
		return fmt.Errorf("start the command: %w", err)
	}
	if forwardStdin {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := g.io.In.Read(buf)
				if n > 0 && out.Write(proto.FrameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					out.Write(proto.FrameStdinEOF, nil)
					return
				}
			}
		}()
	} else {
		out.Write(proto.FrameStdinEOF, nil)
	}
	// Ctrl-C without a terminal interrupts the remote command; if it does
	// not end within 5s, closing the stream kills it.
	go func() {
		<-ctx.Done()
		out.Write(proto.FrameSignal, []byte("INT"))
		time.Sleep(5 * time.Second)
		stream.Close()
	}()
	for {
		typ, p, err := proto.ReadFrame(stream)
		if err != nil {
			if ctx.Err() != nil {
				return exitStatus(130)
			}
			return fmt.Errorf("the connection to the container broke: %w", err)
		}
		switch typ {
		case proto.FrameStdout:
			g.io.Out.Write(p)
		case proto.FrameStderr:
			g.io.ErrOut.Write(p)
		case proto.FrameExit:
			var x proto.ExecExit
			if err := json.Unmarshal(p, &x); err != nil {
				return fmt.Errorf("unreadable exit status: %w", err)
			}
			if x.Error != "" {
				return errors.New(x.Error)
			}
			if x.Code != 0 {
				return exitStatus(x.Code)
			}
			return nil
		}
	}
}
