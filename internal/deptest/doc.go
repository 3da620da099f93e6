// Package deptest holds the test that keeps Gasper's dependency direction
// (DESIGN.md section 2): the CLI links neither containerd nor SQLite, the
// master never links containerd, the agent never links SQLite, and master
// and agent never import each other. It has no code of its own.
package deptest
