package main

import (
	"github.com/spf13/cobra"
)

func newCmdNode(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage the nodes of the cloud (admin)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(
		newCmdNodeList(g, nil),
		newCmdNodeInfo(g, nil),
		newCmdNodeToken(g, nil),
		newCmdNodeRemove(g, nil),
		newCmdNodeCordon(g, true, nil),
		newCmdNodeCordon(g, false, nil),
		newCmdNodeDrain(g, nil),
	)
	return cmd
}

// adminOnly marks cmd as needing an admin, for explain's hint.
func adminOnly(cmd *cobra.Command, listHint string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotAdmin] = "true"
	if listHint != "" {
		cmd.Annotations[annotList] = listHint
	}
	return cmd
}
