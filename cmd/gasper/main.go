// Command gasper is the Gasper CLI: it talks to a master's REST API to log
// in, deploy and manage applications, manage users, API tokens and nodes.
// See docs/cli.md and docs/apps.md.
package main

import (
	"os"

	"gasper/cmd/gasper/internal/iostreams"
)

func main() {
	os.Exit(Main(os.Args[1:], iostreams.System(), os.Getenv))
}
