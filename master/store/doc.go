// Package store keeps the master's state in SQLite (modernc.org/sqlite, WAL
// mode): users, login sessions, API tokens, join tokens, nodes and the audit
// log. Schema changes are numbered SQL files in migrations/, embedded in the
// binary and applied in order at Open.
//
// The master is its only user. Methods take a context and return api sentinel
// errors (api.ErrNotFound, api.ErrConflict) where a caller must branch.
package store
