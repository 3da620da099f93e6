package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"gasper/agent"
	"gasper/proto"
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agent's version and protocol version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "gasper-agent %s (protocol %d, %s, %s/%s)\n", agent.Version, proto.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
