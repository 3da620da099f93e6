// Package apps is the agent's app role (AppMaker): it builds releases into
// images, and converges the node's containers to the desired set of apps the
// master pushes. A changed app gets a new container that must pass its
// health check before the old one is stopped; a crashing process is
// restarted with backoff; every instance's state is reported to the master.
//
// The desired set is kept on disk, so a restarted agent re-adopts its
// running containers and goes on serving without the master.
package apps
