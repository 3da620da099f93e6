package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"gasper/api"
)

func newCmdAppEnv(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "List, set and unset an app's environment variables",
		Long: `List, set and unset an app's environment variables.

Setting or unsetting makes a new release with the same image (no rebuild),
which the app restarts into.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newCmdAppEnvList(g, nil),
		newCmdAppEnvSet(g, nil),
		newCmdAppEnvUnset(g, nil),
	)
	return cmd
}

type appEnvListOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	JSON    bool
}

func newCmdAppEnvList(g *globalOptions, runF func(*appEnvListOptions) error) *cobra.Command {
	opts := &appEnvListOptions{g: g}
	cmd := &cobra.Command{
		Use:     "list NAME [--json]",
		Aliases: []string{"ls"},
		Short:   "Print an app's variables as KEY=VALUE lines, sorted",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if runF != nil {
				return runF(opts)
			}
			return runAppEnvList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the variables as a JSON object")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppEnvList(cmd *cobra.Command, opts *appEnvListOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	env, err := c.Env(cmd.Context(), opts.Name)
	if err != nil {
		return err
	}
	if env == nil {
		env = map[string]string{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, env)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(opts.g.io.Out, "%s=%s\n", k, env[k]); err != nil {
			return err
		}
	}
	return nil
}

type appEnvSetOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	Set     map[string]string
}

func newCmdAppEnvSet(g *globalOptions, runF func(*appEnvSetOptions) error) *cobra.Command {
	opts := &appEnvSetOptions{g: g}
	cmd := &cobra.Command{
		Use:   "set NAME KEY=VALUE...",
		Short: "Set variables and roll out a release with them",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, rest, err := takeApp(opts.AppFlag, args, 1, -1, "KEY=VALUE")
			if err != nil {
				return err
			}
			opts.Name, opts.Set = name, map[string]string{}
			for _, kv := range rest {
				k, v, err := parseEnvPair(kv)
				if err != nil {
					return usageErrorf("%v", err)
				}
				opts.Set[k] = v
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppEnvChange(cmd, opts.g, opts.Name, api.EnvRequest{Set: opts.Set})
		},
	}
	return appCommand(cmd, &opts.AppFlag)
}

type appEnvUnsetOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	Unset   []string
}

func newCmdAppEnvUnset(g *globalOptions, runF func(*appEnvUnsetOptions) error) *cobra.Command {
	opts := &appEnvUnsetOptions{g: g}
	cmd := &cobra.Command{
		Use:   "unset NAME KEY...",
		Short: "Unset variables and roll out a release without them",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, rest, err := takeApp(opts.AppFlag, args, 1, -1, "KEY")
			if err != nil {
				return err
			}
			for _, k := range rest {
				if err := validateEnvKey(k); err != nil {
					e := usageErrorf("%v", err)
					if strings.Contains(k, "=") {
						e.hint = "unset takes names only; to change a value use: gasper app env set " + name + " KEY=VALUE"
					}
					return e
				}
			}
			opts.Name, opts.Unset = name, rest
			if runF != nil {
				return runF(opts)
			}
			return runAppEnvChange(cmd, opts.g, opts.Name, api.EnvRequest{Unset: opts.Unset})
		},
	}
	return appCommand(cmd, &opts.AppFlag)
}

// runAppEnvChange sends the change and says which release carries it.
func runAppEnvChange(cmd *cobra.Command, g *globalOptions, app string, req api.EnvRequest) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	rel, err := c.SetEnv(cmd.Context(), app, req)
	if err != nil {
		return err
	}
	var what []string
	for k := range req.Set {
		what = append(what, "set "+k)
	}
	slices.Sort(what)
	for _, k := range req.Unset {
		what = append(what, "unset "+k)
	}
	fmt.Fprintf(g.io.ErrOut, "Release %d of %s: %s; see it roll out with: gasper app info %s\n",
		rel.Number, app, strings.Join(what, ", "), app)
	return nil
}
