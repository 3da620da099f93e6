// Package master is gasper-master: it wires the store, the node registry, the
// tunnel server and the REST API together and runs them until its context
// ends. cmd/gasper-master turns flags into a Config and calls Run.
package master
