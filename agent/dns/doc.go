// Package dns is the agent's dns role: a small DNS server that is
// authoritative for the cloud domain and recursive (by forwarding) for
// everything else.
//
// The master computes a proto.Zone (app names, custom domains, other records,
// the live proxies and the dns nodes) and pushes it whole; the agent hands it
// to Server.SetZone, which validates it, keeps it on disk so the server
// answers with its last zone while the master is away, and swaps it in
// without stopping the listeners. Every app name and custom domain answers
// with the proxies in an order that rotates per answer, so clients spread
// evenly over them. Over UDP the common query (A or AAAA for a name in the
// zone) is answered from answers packed once per zone (fast.go), and
// queries are read and answered in batches of system calls (udp.go).
//
// Containers use this server as their resolver, so names outside the zone are
// forwarded to the node's own resolvers, with a small cache that honours the
// answers' TTLs. Queries for the zone itself are never forwarded.
package dns
