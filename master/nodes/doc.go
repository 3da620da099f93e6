// Package nodes is the master's node registry: it redeems join tokens for
// node identities, checks returning nodes' credentials (it is the tunnel's
// Authority), takes heartbeats, and decides each node's state: a node that
// has not been heard from for longer than the grace is down.
//
// Live facts (connection, last heartbeat, usage) are kept in memory and
// written to the store on state changes and every few seconds, so 200 nodes
// heartbeating every second do not make 200 writes a second.
package nodes
