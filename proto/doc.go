// Package proto holds the messages exchanged between gasper-master and
// gasper-agent over the tunnel, and the protocol version.
//
// The tunnel is TLS over TCP. After the TLS handshake the agent writes one
// Hello as a JSON line and the master answers with one Welcome JSON line; from
// then on the connection carries a yamux session on which both ends serve
// plain HTTP (the agent is the yamux client, the master the server). The
// routes each end serves are the Path* constants.
//
// It depends on the standard library only.
package proto
