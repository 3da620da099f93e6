// Package routing computes what the proxy and dns roles serve — the route
// table (host names to healthy instances, certificates) and the DNS zone
// (app names to live proxy nodes) — and pushes each to its nodes whenever it
// changes, whenever such a node connects, and periodically. Tables carry a
// version taken from the clock, so a node never goes back to an older one,
// even across master restarts.
package routing
