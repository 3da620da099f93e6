// Package jointoken makes and parses the join tokens that let a new node
// join a Gasper cluster.
//
// A token carries the SHA-256 of the master's tunnel CA certificate, so the
// agent can check on first contact that it talks to the right master before
// it sends anything secret, plus a token ID and a secret. The master stores
// only the ID and the secret's hash (SecretHash). It is used by the master
// (to mint tokens) and by gasper-agent (to join), and depends on the standard
// library only.
package jointoken
