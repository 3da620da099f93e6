// Package tunnel is the master's end of the master <-> agent tunnel.
//
// Agents dial the master's tunnel port over TLS (certificate from package
// pki), send one proto.Hello line and get one proto.Welcome line back; then
// the connection carries a yamux session (the master is the yamux server) on
// which both ends serve plain HTTP. Server keeps one session per node, serves
// Config.Handler to each node, and gives the rest of the master an
// *http.Client per node (Client) to call the agent.
//
// Who may connect is decided by an Authority, which the master implements
// with its store; this package knows nothing of SQLite or join-token storage.
package tunnel
