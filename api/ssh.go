package api

import "time"

// SSHKey is a public key a user registered to log in to apps over SSH.
type SSHKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is the key's algorithm, like ssh-ed25519.
	Type string `json:"type"`
	// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l shows it.
	Fingerprint string `json:"fingerprint"`
	// PublicKey is the key in authorized_keys form, without comment.
	PublicKey  string     `json:"public_key"`
	Owner      string     `json:"owner"` // the owner's email
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// AddSSHKeyRequest is the body of POST /api/v1/ssh-keys.
type AddSSHKeyRequest struct {
	// PublicKey is one line of an authorized_keys or .pub file.
	PublicKey string `json:"public_key"`
	// Name names the key; empty means the key's comment.
	Name string `json:"name,omitempty"`
}

// AppSSH says how to reach an app over SSH (GET /api/v1/apps/{app}/ssh).
type AppSSH struct {
	App string `json:"app"`
	// Nodes are host:port of the live nodes with the ssh role.
	Nodes []string `json:"nodes"`
	// Command opens a shell in the app's container (empty while no ssh
	// node is up).
	Command string `json:"command,omitempty"`
	// GitRemote is where `git push` deploys the app from.
	GitRemote string `json:"git_remote,omitempty"`
	// PushBranch is the branch a push deploys (default main).
	PushBranch string `json:"push_branch"`
	// HasPassword tells whether the app has an SSH password.
	HasPassword bool `json:"has_password"`
}

// UpdateAppSSHRequest is the body of PATCH /api/v1/apps/{app}/ssh.
type UpdateAppSSHRequest struct {
	// Password, when set, becomes the app's SSH password (8 to 72 bytes):
	// `ssh APP@node` then accepts it for the app's owner.
	Password string `json:"password,omitempty"`
	// ClearPassword removes the password: only keys log in.
	ClearPassword bool `json:"clear_password,omitempty"`
	// PushBranch, when set, is the branch a git push deploys.
	PushBranch string `json:"push_branch,omitempty"`
}
