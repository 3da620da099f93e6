// Package agent is gasper-agent: it checks containerd, reads the machine's
// facts, and keeps the tunnel to the master up (package agent/tunnel),
// reporting usage with every heartbeat.
//
// cmd/gasper-agent turns flags into a Config and calls Run. The roles and the
// reconciler plug in through the handler the tunnel serves to the master.
package agent
