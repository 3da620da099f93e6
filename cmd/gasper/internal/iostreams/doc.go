// Package iostreams is the gasper CLI's terminal I/O: the three standard
// streams, whether they are terminals, and prompts (with a no-echo password
// prompt). Commands print only through it, so tests run them against buffers
// (Test) and can pretend to be on a terminal.
package iostreams
