// Command gasper-agent runs on every node of a Gasper cluster: it joins the
// master, keeps the tunnel to it open, and drives containerd.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
