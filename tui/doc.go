// Package tui is gasper's terminal dashboard (`gasper dashboard`): tabs of
// applications, databases, nodes and users that update live, a detail view
// per item, an app's followed logs with search, and keyboard actions
// (create, restart, rebuild, roll back, delete, link). It is a bubbletea
// model that talks to the master only through Client, which api/client's
// *Client satisfies; it never imports the master. tui/tuitest holds a fake
// Client and the contract both must keep.
package tui
