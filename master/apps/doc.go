// Package apps is the master's application service: it stores source
// archives by content hash, numbers immutable releases, has agents build
// them (streaming the build log to whoever follows it), places apps on
// nodes, keeps each node's desired set of apps in step with the database
// (pushed on every change, on reconnect and periodically), and turns the
// agents' status reports into each app's status.
//
// master/httpapi calls it for the /apps routes; agents reach it through the
// tunnel (source downloads and status reports).
package apps
