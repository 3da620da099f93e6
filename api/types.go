package api

import "time"

// Prefix is the path prefix of every API route.
const Prefix = "/api/v1"

// Health is the body of GET /api/v1/health. It needs no authentication.
type Health struct {
	Status  string `json:"status"` // "ok"
	Version string `json:"version"`
	// ProtoVersion is the master <-> agent protocol version the master speaks.
	ProtoVersion int `json:"proto_version"`
}

// User is an account. Passwords never leave the master.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Session is what login and refresh return: a short-lived access token (a
// JWT, sent as "Authorization: Bearer ...") and a refresh token that buys a
// new pair once, until it expires or the session is logged out.
type Session struct {
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	User             User      `json:"user"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// CreateUserRequest is the body of POST /api/v1/users (admin only).
type CreateUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Admin    bool   `json:"admin,omitempty"`
}

// APIToken describes a long-lived API token. Its secret is only in
// CreatedAPIToken, once.
type APIToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CreateAPITokenRequest is the body of POST /api/v1/tokens.
type CreateAPITokenRequest struct {
	Name string `json:"name"`
	// TTL is a Go duration ("720h"); empty means the token does not expire.
	TTL string `json:"ttl,omitempty"`
}

// CreatedAPIToken is returned once, on creation: Token is the secret to send
// as "Authorization: Bearer ...".
type CreatedAPIToken struct {
	APIToken
	Token string `json:"token"`
}

// CreateJoinTokenRequest is the body of POST /api/v1/nodes/tokens (admin).
type CreateJoinTokenRequest struct {
	// TTL is a Go duration; empty means the master's default.
	TTL string `json:"ttl,omitempty"`
}

// JoinToken is returned once: Token is what `gasper-agent join --token` takes.
type JoinToken struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// TunnelAddr is the address agents dial, as the master knows it.
	TunnelAddr string `json:"tunnel_addr"`
}

// Node states.
const (
	NodeReady    = "ready"
	NodeDown     = "down"
	NodeDraining = "draining"
)

// Node is a machine running gasper-agent.
type Node struct {
	ID        string   `json:"id"`
	Hostname  string   `json:"hostname"`
	Advertise string   `json:"advertise"`
	Roles     []string `json:"roles"`
	State     string   `json:"state"`
	// Connected is true while the node's tunnel is open.
	Connected bool `json:"connected"`
	// Cordoned nodes take no new placements; what runs there stays.
	Cordoned bool       `json:"cordoned,omitempty"`
	Facts    NodeFacts  `json:"facts"`
	Usage    NodeUsage  `json:"usage"`
	JoinedAt time.Time  `json:"joined_at"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

// NodeFacts are what a node reports about itself when it connects.
type NodeFacts struct {
	CPUs              int    `json:"cpus"`
	MemoryBytes       uint64 `json:"memory_bytes"`
	DiskBytes         uint64 `json:"disk_bytes"`
	ContainerdVersion string `json:"containerd_version"`
	KernelVersion     string `json:"kernel_version"`
	AgentVersion      string `json:"agent_version"`
	OS                string `json:"os"`
	Arch              string `json:"arch"`
	// SSHAddr is host:port where the node's ssh role accepts users.
	SSHAddr string `json:"ssh_addr,omitempty"`
}

// NodeUsage is the live resource use a node reports with each heartbeat.
type NodeUsage struct {
	// CPUPercent is the machine's CPU busy share since the last report, 0-100.
	CPUPercent      float64 `json:"cpu_percent"`
	MemoryUsedBytes uint64  `json:"memory_used_bytes"`
	DiskUsedBytes   uint64  `json:"disk_used_bytes"`
	Load1           float64 `json:"load1"`
}

// AuditEvent is one entry of the audit log (GET /api/v1/audit, admin).
type AuditEvent struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // user email, or "node:<id>", or "system"
	Action string    `json:"action"` // e.g. "user.create"
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// CertificateRequest is the body of POST /api/v1/certificates (admin): a
// PEM chain (leaf first) and its PEM private key, for custom domains.
type CertificateRequest struct {
	CertPEM string `json:"cert_pem"`
	KeyPEM  string `json:"key_pem"`
}

// Certificate describes an uploaded certificate; its key never leaves the
// master but to the proxies.
type Certificate struct {
	Name      string    `json:"name"`
	Hosts     []string  `json:"hosts"`
	NotAfter  time.Time `json:"not_after"`
	CreatedAt time.Time `json:"created_at"`
}
