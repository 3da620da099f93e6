// Command gasper-agent runs on every node of a Gasper cluster: it joins the
// master, keeps the tunnel to it open, and drives containerd.
package main

import (
	"os"
	"strings"
	"syscall"
)

func main() {
	enableH2WebSocket()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// h2WebSocket is the GODEBUG setting under which Go's HTTP/2 server accepts
// WebSocket over HTTP/2 (RFC 8441, extended CONNECT), for the proxy role.
const h2WebSocket = "http2xconnect=1"

// enableH2WebSocket makes sure the process runs with h2WebSocket. The HTTP/2
// code reads GODEBUG once, before main, so setting it here would be too late:
// the agent replaces itself with a copy started with it (same pid, so
// pidfiles and supervisors are unaffected). If that fails, the agent runs on
// without WebSocket over HTTP/2; HTTP/1.1 WebSockets still work.
func enableH2WebSocket() {
	current := os.Getenv("GODEBUG")
	if strings.Contains(current, h2WebSocket) || os.Getenv("GASPER_AGENT_REEXEC") != "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	value := h2WebSocket
	if current != "" {
		value = current + "," + h2WebSocket
	}
	// Exactly one GODEBUG entry, or the first (old) one would win again; the
	// marker makes a second pass impossible whatever happens.
	env := []string{"GODEBUG=" + value, "GASPER_AGENT_REEXEC=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, "GASPER_AGENT_REEXEC=") {
			env = append(env, kv)
		}
	}
	syscall.Exec(exe, os.Args, env) // returns only on failure
}
