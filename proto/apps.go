package proto

import "time"

// Routes every app-role agent serves to the master.
const (
	// PathBuild (POST BuildRequest) builds a release. The response body is
	// the build log, streamed; the outcome is the BuildResult JSON in the
	// TrailerBuildResult trailer.
	PathBuild = "/v1/build"
	// PathApps (PUT []AppSpec) replaces the node's whole desired set of apps;
	// the agent converges to it in the background and keeps it on disk.
	// With ?unrouted=1 (QueryUnrouted) the master says no route has the
	// node's instances (the node is down or returning): those that leave
	// stop at once, without the drain.
	PathApps = "/v1/apps"
	// PathAppLogs (GET, with {app}, ?follow=1&tail=N) streams an app's logs.
	PathAppLogs = "/v1/apps/{app}/logs"
)

// QueryUnrouted is PathApps's query parameter (value "1") saying that the
// node's instances are in no route.
const QueryUnrouted = "unrouted"

// Routes the master serves to agents, besides PathHeartbeat.
const (
	// PathSource (GET, with {hash}) returns a source archive (tar.gz).
	PathSource = "/v1/sources/{hash}"
	// PathStatus (POST StatusReport) reports the node's app instances.
	PathStatus = "/v1/status"
)

// TrailerBuildResult is the trailer carrying a build's BuildResult.
const TrailerBuildResult = "Gasper-Build-Result"

// BuildRequest asks an agent to build one release into an image.
type BuildRequest struct {
	App     string `json:"app"`
	Release int    `json:"release"`
	// Source is the SHA-256 of the archive, fetched from PathSource.
	Source string `json:"source"`
	// Runtime is the runtime name; empty means detect it from the source.
	Runtime  string   `json:"runtime,omitempty"`
	BuildCmd string   `json:"build_cmd,omitempty"`
	StartCmd string   `json:"start_cmd,omitempty"`
	Port     int      `json:"port,omitempty"`
	Env      []string `json:"env,omitempty"` // KEY=VALUE, the app's environment
	// Image is the name to give the built image.
	Image string `json:"image"`
	// MemoryBytes and CPUs bound the build container.
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"`
}

// BuildResult is how a build ended.
type BuildResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Runtime, StartCmd and Port are what the build resolved (detected
	// runtime, Procfile web line, runtime default port).
	Runtime  string        `json:"runtime,omitempty"`
	StartCmd string        `json:"start_cmd,omitempty"`
	Port     int           `json:"port,omitempty"`
	Image    string        `json:"image,omitempty"`
	Duration time.Duration `json:"duration"`
}

// HealthCheck says how an agent probes an instance.
type HealthCheck struct {
	Type string `json:"type"` // "http" or "tcp"
	Path string `json:"path,omitempty"`
}

// AppSpec is the desired state of one app on one node.
type AppSpec struct {
	App     string `json:"app"`
	Release int    `json:"release"`
	Image   string `json:"image"`
	// StartCmd runs with sh -c in /app; Port is the container port (PORT).
	StartCmd    string      `json:"start_cmd"`
	Port        int         `json:"port"`
	Env         []string    `json:"env,omitempty"`
	MemoryBytes int64       `json:"memory_bytes,omitempty"`
	CPUs        float64     `json:"cpus,omitempty"`
	Health      HealthCheck `json:"health"`
	// Generation changes to make the agent replace running instances of the
	// same release (a restart).
	Generation int `json:"generation"`
	// Resolvers are the dns role's addresses and SearchDomain the cloud
	// domain: new instances resolve through them, so apps reach each other
	// by name. They do not make running instances restart.
	Resolvers    []string `json:"resolvers,omitempty"`
	SearchDomain string   `json:"search_domain,omitempty"`
	// Instances is how many instances of the app this node runs (its share
	// of the app's replicas); 0, from masters before replicas, means 1.
	Instances int `json:"instances,omitempty"`
}

// Count is how many instances the spec asks for.
func (s AppSpec) Count() int {
	if s.Instances <= 0 {
		return 1
	}
	return s.Instances
}

// Instance states.
const (
	InstanceStarting  = "starting"
	InstanceHealthy   = "healthy"
	InstanceUnhealthy = "unhealthy"
	InstanceCrashLoop = "crashloop"
	InstanceOOM       = "oom"
	InstanceStopped   = "stopped"
	// InstanceStopping is an instance on its way out (scaled down, replaced
	// or moved): no longer routed to, it stops after the agent's drain time.
	InstanceStopping = "stopping"
)

// InstanceStatus is one container's state as its agent sees it.
type InstanceStatus struct {
	ID         string    `json:"id"`
	App        string    `json:"app"`
	Release    int       `json:"release"`
	Generation int       `json:"generation"`
	State      string    `json:"state"`
	Address    string    `json:"address"` // host:port on the node's advertise address
	Restarts   int       `json:"restarts"`
	ExitCode   int       `json:"exit_code,omitempty"`
	OOMKilled  bool      `json:"oom_killed,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	LastLog    string    `json:"last_log,omitempty"`
}

// StatusReport is the body of POST PathStatus: every instance on the node.
type StatusReport struct {
	Instances []InstanceStatus `json:"instances"`
	// Images are the app images built on the node, by app: the master
	// places a replica only where its release's image is, building it there
	// first otherwise. Absent from older agents.
	Images map[string][]string `json:"images"`
}
