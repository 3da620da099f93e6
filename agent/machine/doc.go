// Package machine reads what the agent reports about its machine: static
// facts (CPUs, memory, disk, kernel) and live usage (CPU, memory, disk, load)
// from /proc and statfs. It is Linux-specific and used by package agent.
package machine
