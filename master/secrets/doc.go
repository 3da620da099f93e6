// Package secrets encrypts what the master must keep but must not store in
// the clear: app environment values and git access tokens. It seals with
// AES-256-GCM under a key kept in the master's data dir (0600), so a copy of
// the database alone reveals nothing.
package secrets
