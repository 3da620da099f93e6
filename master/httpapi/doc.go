// Package httpapi is the master's REST API (version 1, under /api/v1): login
// sessions, API tokens, users, nodes, join tokens and the audit log.
//
// Every route is declared once in the table in routes.go, with its access
// level and its request and response types; the OpenAPI document served at
// /api/v1/openapi.json is generated from that table, so it cannot drift from
// the handlers. Errors are mapped to HTTP statuses in one place (writeError).
package httpapi
