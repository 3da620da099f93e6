// Package api holds the types of Gasper's REST API (version 1) shared by the
// master, the CLI, the dashboard and the typed client in api/client.
//
// It depends on the standard library only, so anything may import it.
package api
