// Package tunnel is the agent's end of the master <-> agent tunnel.
//
// A Client dials the master over TLS, pinning the master's CA (by the hash in
// the join token on first contact, by the CA certificate kept in the node's
// identity afterwards), introduces itself with a proto.Hello, and then keeps
// one yamux session open on which it serves HTTP to the master and sends
// heartbeats. It reconnects by itself, with exponential backoff and full
// jitter, until its context ends or the master refuses it for good.
//
// It needs no containerd, so many clients can run in one process (the tunnel
// benchmark does); package agent wires it to the real machine.
package tunnel
