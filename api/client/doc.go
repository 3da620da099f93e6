// Package client is the typed Go client of Gasper's REST API (version 1),
// used by the gasper CLI and the dashboard.
//
// Every route has one method taking a context. A failed call returns an
// *api.Error for any non-2xx answer, so callers branch with errors.Is against
// the api sentinels (api.ErrUnauthorized, api.ErrNotFound, ...); this is the
// one place where the master's HTTP status mapping is undone. A master that
// cannot be reached gives an *UnreachableError naming its URL.
//
// A client logged in with a session (WithSession, or Login) refreshes its
// access token by itself when the master rejects it or it has expired, and
// hands the new pair to a callback so the caller can persist it.
package client
