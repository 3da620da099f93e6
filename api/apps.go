package api

import "time"

// App statuses.
const (
	AppCreated   = "created"   // no release yet
	AppBuilding  = "building"  // the first release is building
	AppDeploying = "deploying" // a release is starting and not yet healthy
	AppRunning   = "running"   // every instance of the current release is healthy
	AppCrashLoop = "crashloop" // the process keeps exiting; it restarts with backoff
	AppOOM       = "oom"       // killed by the kernel for exceeding its memory limit
	AppFailed    = "failed"    // the build failed and nothing runs
	AppPending   = "pending"   // no node can take it (StatusReason says why)
	AppStopped   = "stopped"
)

// Release statuses.
const (
	ReleaseBuilding = "building"
	ReleaseFailed   = "failed"
	ReleaseReady    = "ready" // built; its image exists
)

// HealthCheck says how to tell that an instance serves.
type HealthCheck struct {
	// Type is "http" (default) or "tcp".
	Type string `json:"type,omitempty"`
	// Path is the HTTP path probed (default "/"); any status below 500 is healthy.
	Path string `json:"path,omitempty"`
}

// AppConfig is what a user chooses about an app (all optional but Name).
type AppConfig struct {
	// Runtime is one of the runtimes (static, php, python3, python2, nodejs,
	// golang, ruby, rust); empty means detect it from the source.
	Runtime string `json:"runtime,omitempty"`
	// BuildCmd and StartCmd override the runtime's commands (run with sh -c).
	BuildCmd string `json:"build_cmd,omitempty"`
	StartCmd string `json:"start_cmd,omitempty"`
	// Port is the port the app listens on inside its container (it gets it
	// as PORT); 0 means the runtime's default.
	Port int `json:"port,omitempty"`
	// MemoryBytes is the memory limit; 0 means the master's default.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// CPUs is the CPU quota in cores; 0 means the master's default.
	CPUs   float64      `json:"cpus,omitempty"`
	Health *HealthCheck `json:"health,omitempty"`
	// RedirectHTTPS makes the proxies answer plain HTTP with a redirect to HTTPS.
	RedirectHTTPS bool `json:"redirect_https,omitempty"`
}

// GitSource is where a git-backed app's code comes from.
type GitSource struct {
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
	// Token is write-only: it is stored encrypted and never returned.
	Token string `json:"token,omitempty"`
	// HasToken tells, on reads, whether a token is stored.
	HasToken bool `json:"has_token,omitempty"`
}

// CreateAppRequest is the body of POST /api/v1/apps. A git app's first
// release starts building at once; a directory app waits for its source
// (POST /api/v1/apps/{app}/source).
type CreateAppRequest struct {
	Name string `json:"name"`
	AppConfig
	Env map[string]string `json:"env,omitempty"`
	Git *GitSource        `json:"git,omitempty"`
	// Replicas is how many instances run (0 to 100); absent means 1.
	Replicas *int `json:"replicas,omitempty"`
}

// ScaleRequest is the body of POST /api/v1/apps/{app}/scale.
type ScaleRequest struct {
	// Replicas is how many instances should run: 0 (nothing runs) to 100.
	Replicas int `json:"replicas"`
}

// UpdateAppRequest is the body of PATCH /api/v1/apps/{app}: set fields
// change the config and roll out a new release from the current image (or
// rebuild, when build settings change).
type UpdateAppRequest struct {
	AppConfig
	// RedirectHTTPS, when set, turns the HTTP to HTTPS redirect on or off.
	RedirectHTTPS *bool `json:"redirect_https,omitempty"`
}

// Instance is one running (or trying to run) container of an app.
type Instance struct {
	ID       string `json:"id"`
	Node     string `json:"node"`      // node id
	NodeName string `json:"node_name"` // node hostname
	// Address is host:port where the instance is published on its node.
	Address   string     `json:"address"`
	Release   int        `json:"release"`
	State     string     `json:"state"` // starting, healthy, unhealthy, crashloop, oom, stopped
	Restarts  int        `json:"restarts"`
	ExitCode  int        `json:"exit_code,omitempty"`
	OOMKilled bool       `json:"oom_killed,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	// LastLog holds the last lines the instance printed, when it is failing.
	LastLog string `json:"last_log,omitempty"`
}

// App is an application.
type App struct {
	Name         string    `json:"name"`
	Owner        string    `json:"owner"` // the owner's email
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	Config       AppConfig `json:"config"`
	// Release is the current release's number (0: none yet).
	Release int `json:"release"`
	// Runtime is the current release's runtime, as detected or chosen.
	Runtime string     `json:"runtime,omitempty"`
	Git     *GitSource `json:"git,omitempty"`
	// EnvNames lists the environment variables set (values: GET .../env).
	EnvNames  []string   `json:"env_names"`
	Instances []Instance `json:"instances"`
	// Replicas is how many instances should run; Running how many of the
	// current release are healthy.
	Replicas int `json:"replicas"`
	Running  int `json:"running"`
	// Nodes holds the node id of each placed replica (a node once per
	// replica it runs); fewer than Replicas: the rest wait (StatusReason).
	Nodes []string `json:"nodes,omitempty"`
	// Node and NodeName say where the scheduler placed the first replica
	// (empty: nowhere yet).
	Node     string `json:"node,omitempty"`
	NodeName string `json:"node_name,omitempty"`
	// Placement is the scheduler's last decision about the app (also in
	// the audit log), in app info only.
	Placement string `json:"placement,omitempty"`
	// Address is host:port of the first healthy instance, for curl.
	Address string `json:"address,omitempty"`
	// URLs are where the app answers through the proxies: NAME.DOMAIN and
	// its custom domains.
	URLs []string `json:"urls"`
	// Domains are the app's custom domains.
	Domains   []string  `json:"domains"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Release is one immutable, numbered deploy of an app: a source archive
// (by content hash) built into an image, with the config it runs with.
type Release struct {
	App     string `json:"app"`
	Number  int    `json:"number"`
	Status  string `json:"status"`
	Runtime string `json:"runtime"`
	// Source is the SHA-256 of the source archive.
	Source string `json:"source"`
	// Image is the built image's name, once ready.
	Image string `json:"image,omitempty"`
	// Error says why a build failed.
	Error string `json:"error,omitempty"`
	// Cause says what made the release: "deploy", "git", "rebuild", "env ...", "rollback to N".
	Cause     string     `json:"cause"`
	Current   bool       `json:"current"`
	CreatedAt time.Time  `json:"created_at"`
	BuiltAt   *time.Time `json:"built_at,omitempty"`
	BuildNode string     `json:"build_node,omitempty"`
	BuildTime string     `json:"build_time,omitempty"` // a Go duration
}

// EnvRequest is the body of PATCH /api/v1/apps/{app}/env: it sets and
// unsets variables and rolls out a new release with them (no rebuild).
type EnvRequest struct {
	Set   map[string]string `json:"set,omitempty"`
	Unset []string          `json:"unset,omitempty"`
}

// RollbackRequest is the body of POST /api/v1/apps/{app}/rollback.
type RollbackRequest struct {
	// Release is the release to go back to; 0 means the one before the current.
	Release int `json:"release,omitempty"`
}

// Runtimes lists the runtime names an app may ask for. The runtimes package
// defines them (a test there keeps the two in step); the master checks names
// against this list without linking the image builder.
var Runtimes = []string{"static", "php", "python3", "python2", "nodejs", "golang", "ruby", "rust"}

// DomainRequest is the body of POST /api/v1/apps/{app}/domains.
type DomainRequest struct {
	// Domain is a fully qualified name, like www.example.com.
	Domain string `json:"domain"`
}
