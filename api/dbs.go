package api

import "time"

// Engines lists the database engines a user may ask for. The engines package defines them (a test
// there keeps the two in step); the master checks names against this list without linking it.
var Engines = []string{"mysql", "postgresql", "redis", "mongodb"}

// Database statuses.
const (
	DBPending     = "pending"     // no db node can take it (StatusReason says why)
	DBCreating    = "creating"    // placed; its server is starting or being provisioned
	DBReady       = "ready"       // it answers queries
	DBFailed      = "failed"      // its server does not start (StatusReason and LastLog say why)
	DBUnavailable = "unavailable" // its node is down or gone; restore a backup elsewhere
)

// CreateDatabaseRequest is the body of POST /api/v1/databases.
type CreateDatabaseRequest struct {
	Name   string `json:"name"`
	Engine string `json:"engine"`
	// MemoryBytes is the server's memory limit; 0 means the master's default.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// Node, when set, places the database on this node (id or hostname) instead of the one with
	// the most free memory.
	Node string `json:"node,omitempty"`
}

// Database is a database server of one engine, with one database and one user in it.
type Database struct {
	Name         string `json:"name"`
	Owner        string `json:"owner"` // the owner's email
	Engine       string `json:"engine"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason,omitempty"`
	Node         string `json:"node,omitempty"`      // node id
	NodeName     string `json:"node_name,omitempty"` // node hostname
	// Host is the database's DNS name, NAME.db.DOMAIN, served by the dns role.
	Host string `json:"host"`
	// Address is host:port where the server is published on its node.
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	// DBName and User are the database and the user inside the server (for redis, DBName is the
	// logical database number "0").
	DBName string `json:"database"`
	User   string `json:"user"`
	// Password is returned on creation and when asked for (?show_password=1), never otherwise.
	Password string `json:"password,omitempty"`
	// URL is the connection URL by Host; its password is "****" unless Password is set.
	URL         string    `json:"url"`
	MemoryBytes int64     `json:"memory_bytes"`
	Links       []string  `json:"links"` // apps that get its URL
	LastLog     string    `json:"last_log,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// LinkRequest is the body of POST /api/v1/databases/{db}/links.
type LinkRequest struct {
	App string `json:"app"`
}

// Backup is a consistent logical dump of a database, stored by the master.
type Backup struct {
	ID        string    `json:"id"`
	Database  string    `json:"database"`
	Engine    string    `json:"engine"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at"`
	// Duration is how long the dump took, as a Go duration.
	Duration string `json:"duration"`
}

// RestoreRequest is the body of POST /api/v1/databases/{db}/restore: it loads a backup of the
// same engine into the database, replacing its data.
type RestoreRequest struct {
	Backup string `json:"backup"`
}
