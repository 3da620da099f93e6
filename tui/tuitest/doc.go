// Package tuitest holds what tests of the dashboard share: Fake, an
// in-memory tui.Client, and Contract, the behaviour both Fake and the real
// api/client against a real master must show. The tui tests drive the
// dashboard against Fake; e2e runs Contract against a master it starts, so
// the fake cannot drift from the real thing unnoticed.
package tuitest
