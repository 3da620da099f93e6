package proto

// Routes the agent serves to the master for the db role.
const (
	// PathDBs (PUT []DBSpec) replaces the node's whole desired set of databases; the agent keeps
	// it on disk and converges to it.
	PathDBs = "/v1/dbs"
	// PathDBLogs (GET, with {db}, ?follow=1&tail=N) streams a database server's logs.
	PathDBLogs = "/v1/dbs/{db}/logs"
	// PathDBBackup (POST) answers with a consistent dump of the database; the trailer
	// TrailerDBResult is "ok" or says why the dump is incomplete.
	PathDBBackup = "/v1/dbs/{db}/backup"
	// PathDBRestore (POST, body: a dump of PathDBBackup) loads a dump into the database,
	// replacing its data; 204 once the database serves the restored data.
	PathDBRestore = "/v1/dbs/{db}/restore"
	// PathDBData (DELETE, with {db} and ?id=ID) removes a deleted database's container and data.
	PathDBData = "/v1/dbs/{db}/data"
)

// PathDBStatus (POST DBReport) is served by the master: the node's databases.
const PathDBStatus = "/v1/dbs/status"

// TrailerDBResult is the trailer that ends a backup stream: "ok", or an error.
const TrailerDBResult = "Gasper-Backup-Result"

// DBSpec is one database a node should run.
type DBSpec struct {
	Name   string `json:"name"`
	Engine string `json:"engine"`
	// Image, if set, replaces the engine's built image (an OCI reference an operator chose).
	Image       string  `json:"image,omitempty"`
	Password    string  `json:"password"`
	MemoryBytes int64   `json:"memory_bytes"`
	CPUs        float64 `json:"cpus,omitempty"`
	// ID is unique per database ever created: it names the data directory, so a new database of an
	// old name never finds the old one's data.
	ID string `json:"id"`
	// Generation is bumped by a restart: a container of an older generation is replaced.
	Generation int `json:"generation"`
}

// Database states as the agent sees them.
const (
	DBStarting = "starting"
	DBReady    = "ready"
	DBFailing  = "failing" // the server exits or does not become ready; it is retried with backoff
)

// DBStatus is one database server's state on its node.
type DBStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	HostPort int    `json:"host_port,omitempty"`
	// Generation is the DBSpec generation of the container reported on.
	Generation int    `json:"generation"`
	Restarts   int    `json:"restarts"`
	Error      string `json:"error,omitempty"`
	LastLog    string `json:"last_log,omitempty"`
}

// DBReport is the body of POST PathDBStatus.
type DBReport struct {
	DBs []DBStatus `json:"dbs"`
}
