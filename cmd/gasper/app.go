package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newCmdApp(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "app",
		Aliases: []string{"apps"},
		Short:   "Create, deploy and manage applications",
		Long: `Create, deploy and manage applications.

Every command that acts on one app takes its name as the first argument,
or as -a/--app NAME.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newCmdAppCreate(g, nil),
		newCmdAppDeploy(g, nil),
		newCmdAppList(g, nil),
		newCmdAppInfo(g, nil),
		newCmdAppLogs(g, nil),
		newCmdAppRestart(g, nil),
		newCmdAppScale(g, nil),
		newCmdAppRebuild(g, nil),
		newCmdAppDelete(g, nil),
		newCmdAppEnv(g),
		newCmdAppReleases(g, nil),
		newCmdAppRollback(g, nil),
		newCmdAppDomain(g),
		newCmdAppUpdate(g, nil),
		newCmdAppExec(g, nil),
		newCmdAppShell(g, nil),
		newCmdAppSSH(g, nil),
	)
	return cmd
}

// appCommand marks cmd as acting on one app: it gets -a/--app, bound to
// *app, and a not-found error hints at the list of apps.
func appCommand(cmd *cobra.Command, app *string) *cobra.Command {
	cmd.Flags().StringVarP(app, "app", "a", "", "the app (instead of the first argument)")
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotList] = "gasper app list"
	return cmd
}

// takeApp returns the app name, from -a/--app (flag) or else the first of
// args, the arguments left after it, and a usage error when there is no
// name, the name is not a valid app name, or the rest does not number
// between min and max (max < 0: any).
func takeApp(flag string, args []string, min, max int, restName string) (string, []string, error) {
	name := flag
	if name == "" {
		if len(args) == 0 {
			return "", nil, usageErrorf("missing APP (the app's name, or -a APP)")
		}
		name, args = args[0], args[1:]
	}
	if err := validateAppName(name); err != nil {
		return "", nil, err
	}
	switch {
	case len(args) < min:
		return "", nil, usageErrorf("missing %s", restName)
	case max >= 0 && len(args) > max:
		return "", nil, usageErrorf("unexpected argument %q", args[max])
	}
	return name, args, nil
}

// validateAppName checks name as the master does (a DNS label), so a typo
// is caught with a clear message before any request.
func validateAppName(name string) error {
	ok := len(name) >= 1 && len(name) <= 63 && name[0] != '-' && name[len(name)-1] != '-'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if ok {
		return nil
	}
	err := usageErrorf("invalid app name %q: use 1-63 lowercase letters, digits and '-', not starting or ending with '-'", name)
	if lower := strings.ToLower(strings.ReplaceAll(name, "_", "-")); lower != name && validateAppName(lower) == nil {
		err.hint = fmt.Sprintf("did you mean %q?", lower)
	}
	return err
}
