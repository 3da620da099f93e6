// Package container runs Gasper's application and database containers on one node. It is the only
// package that imports containerd's client for running containers: the agent's reconcilers create,
// start, stop, inspect and exec into containers through a Driver, and internal/image imports images
// into the same containerd namespace through Driver.Client.
//
// One Driver serves one node: its own containerd namespace, state directory, CNI bridge and subnet,
// and the address (HostIP) its containers' ports are published on. Containers are joined to the
// bridge through a network namespace the driver pins under StateDir/netns, so the CNI plugins can
// attach the network before the process starts and tear it down after it exits. Published ports
// are CNI portmap DNAT rules in the kernel: they keep working while the agent is down.
//
// Everything a Driver needs to find a container again lives in containerd (labels) and in
// StateDir, so a new Driver after an agent restart re-adopts the containers of its namespace.
package container
