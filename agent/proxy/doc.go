// Package proxy is the agent's proxy role: an HTTP(S) edge proxy that routes
// requests by Host (and SNI for certificates) to an application's live
// instances, using the proto.RouteTable the master pushes.
//
// It speaks HTTP/1.1 and HTTP/2 to clients (TLS with ALPN, and h2c by prior
// knowledge or Upgrade on the plain port), passes WebSocket upgrades (HTTP/1.1,
// and HTTP/2 extended CONNECT when the process runs with
// GODEBUG=http2xconnect=1), and carries gRPC end to end over h2c to the
// backend with trailers and streaming. Bodies are streamed, never buffered.
// Connections are sorted as they come (run.go): HTTP/1.1 clients are
// served by fasthttp (h1.go), HTTP/2 ones by net/http's server (h2.go;
// x/net's for the rare h2c Upgrade); both reach backends over pooled
// HTTP/1.1 connections from the serving goroutine (backend.go), gRPC
// alone through httputil.ReverseProxy and an h2c transport (forward.go).
//
// The table is kept on disk (StateDir/routes.json) so a restarted proxy routes
// with its last table while the master is away. Certificates come from the
// table (chosen by SNI) or, for the hosts the table lists under ACME, from an
// ACME server through certmagic, answering HTTP-01 on the plain port.
//
// The agent creates one Proxy with New, feeds it tables with SetTable and runs
// it with Run.
package proxy
