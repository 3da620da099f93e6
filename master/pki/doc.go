// Package pki keeps the master's tunnel certificate authority: a private
// ECDSA CA, created on first start and kept in the master's state directory,
// that signs the certificate the master presents on its tunnel port.
//
// Agents never check the master's address against the certificate: they pin
// this CA (its hash is in every join token) and check the fixed name
// TunnelServerName, so the master can move or sit behind any address.
package pki
