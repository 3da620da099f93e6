// Package e2e runs the real gasper-master, gasper-agent and gasper binaries
// together on loopback, driven as a user drives them. The agents need a
// running containerd (as root): `make test` starts one; without it the tests
// skip and say so.
package e2e
