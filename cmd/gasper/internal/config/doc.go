// Package config reads and writes the gasper CLI's two files in its config
// directory: config.yaml (the master URL and the email last logged in with)
// and credentials.json (the session's tokens, readable by its owner only).
//
// Precedence between these files, GASPER_* variables and flags is decided by
// the commands; this package only knows where the files are and their shape.
package config
