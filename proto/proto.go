package proto

import "time"

// Version is the master <-> agent protocol version. Bump it on every wire
// change and add a line to the history below.
//
//	1 (2026-11-24): Hello/Welcome handshake, heartbeats, facts.
//	2 (2026-11-25): exec streams (PathExec), the ssh role's routes (PathSSH*), Facts.SSHAddr.
const Version = 2

// MinVersion is the oldest agent protocol the master still serves.
const MinVersion = 1

// Hello is the agent's first message on a new tunnel connection. It carries
// either a join token (first contact) or the node's identity and credential.
type Hello struct {
	ProtoVersion int `json:"proto_version"`
	// JoinToken is set on first contact only.
	JoinToken string `json:"join_token,omitempty"`
	// NodeID and Credential are set once the node has joined.
	NodeID     string `json:"node_id,omitempty"`
	Credential string `json:"credential,omitempty"`
	Facts      Facts  `json:"facts"`
}

// Welcome is the master's answer to Hello. On failure Error is set and the
// master closes the connection.
type Welcome struct {
	ProtoVersion int    `json:"proto_version"`
	NodeID       string `json:"node_id,omitempty"`
	// Credential is set only in answer to a join: the agent keeps it in its
	// state directory and presents it on every later connection.
	Credential string `json:"credential,omitempty"`
	// HeartbeatInterval tells the agent how often to send heartbeats.
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	Error             *Error        `json:"error,omitempty"`
}

// Error codes in Welcome.Error. The agent turns each into a message that says
// what to do.
const (
	ErrTokenInvalid = "token_invalid" // unknown token or wrong secret
	ErrTokenExpired = "token_expired" // the join token's TTL has passed
	ErrNodeUnknown  = "node_unknown"  // the node was removed, or its credential is wrong
	ErrVersion      = "version"       // protocol version not served
	ErrBadHello     = "bad_hello"     // malformed handshake
	ErrInternal     = "internal"
)

// Error is a handshake failure.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Facts are what an agent reports about its machine when it connects.
type Facts struct {
	Hostname          string   `json:"hostname"`
	Advertise         string   `json:"advertise"`
	Roles             []string `json:"roles"`
	CPUs              int      `json:"cpus"`
	MemoryBytes       uint64   `json:"memory_bytes"`
	DiskBytes         uint64   `json:"disk_bytes"`
	ContainerdVersion string   `json:"containerd_version"`
	KernelVersion     string   `json:"kernel_version"`
	AgentVersion      string   `json:"agent_version"`
	OS                string   `json:"os"`
	Arch              string   `json:"arch"`
	// SSHAddr is host:port where the node's ssh role accepts users, if it
	// has that role.
	SSHAddr string `json:"ssh_addr,omitempty"`
}

// Usage is live resource use, sent with every heartbeat.
type Usage struct {
	CPUPercent      float64 `json:"cpu_percent"`
	MemoryUsedBytes uint64  `json:"memory_used_bytes"`
	DiskUsedBytes   uint64  `json:"disk_used_bytes"`
	Load1           float64 `json:"load1"`
}

// Heartbeat is the body of POST PathHeartbeat (agent -> master).
type Heartbeat struct {
	Seq    uint64    `json:"seq"`
	SentAt time.Time `json:"sent_at"`
	Usage  Usage     `json:"usage"`
}

// HeartbeatAck answers a Heartbeat.
type HeartbeatAck struct {
	Seq   uint64 `json:"seq"`
	State string `json:"state"` // the node's state as the master sees it
}

// Routes the master serves to agents over the tunnel.
const (
	PathHeartbeat = "/v1/heartbeat"
)

// Routes every agent serves to the master over the tunnel.
const (
	PathPing  = "/v1/ping"
	PathFacts = "/v1/facts"
)

// Roles an agent can take.
const (
	RoleApp   = "app"
	RoleDB    = "db"
	RoleProxy = "proxy"
	RoleDNS   = "dns"
	RoleSSH   = "ssh"
)

// AllRoles lists every role, in display order.
var AllRoles = []string{RoleApp, RoleDB, RoleProxy, RoleDNS, RoleSSH}
