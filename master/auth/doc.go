// Package auth holds the master's credentials primitives: bcrypt password
// hashes, signed short-lived access tokens (JWT, HS256) and opaque secrets
// (refresh tokens, API tokens, node credentials) that are stored only as
// SHA-256 hashes.
//
// It knows nothing of HTTP or the store; master/httpapi combines them.
package auth
