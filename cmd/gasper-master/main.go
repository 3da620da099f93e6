// Command gasper-master runs Gasper's control plane: the REST API, the
// agents' tunnel endpoint, the node registry and the state in SQLite.
package main

import "os"

func main() { os.Exit(run(os.Args[1:])) }
