// Command gasper-agent runs on every node of a Gasper cluster: it joins the
// master, keeps the tunnel to it open, and drives containerd.
package main

import "os"

func main() {
	enableH2WebSocket()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// enableH2WebSocket lets the proxy role accept WebSocket over HTTP/2
// (RFC 8441), which Go's HTTP/2 server does only with this GODEBUG setting;
// the runtime picks up GODEBUG changes made before the first use.
func enableH2WebSocket() {
	if v := os.Getenv("GODEBUG"); v == "" {
		os.Setenv("GODEBUG", "http2xconnect=1")
	} else {
		os.Setenv("GODEBUG", v+",http2xconnect=1")
	}
}
