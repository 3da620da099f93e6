package proto

import "time"

// Routes the master serves to agents with the ssh role. The master decides
// everything: who a key or password belongs to, whether that user may enter
// the app, which container a session reaches; the ssh role only asks. A
// refusal is an HTTP 403 (or 404, 409) whose text body says why.
const (
	// PathSSHAuth (POST SSHAuthRequest -> SSHIdentity) checks a login's key
	// or password.
	PathSSHAuth = "/v1/ssh/auth"
	// PathSSHSessions (POST SSHSessionRequest -> SSHSession) authorizes one
	// session (a shell, a command, SFTP or a git push) and audit-logs its
	// start.
	PathSSHSessions = "/v1/ssh/sessions"
	// PathSSHSessionExec (POST, upgraded to an exec stream) relays the
	// session's exec stream to the node that runs its container.
	PathSSHSessionExec = "/v1/ssh/sessions/{id}/exec"
	// PathSSHSessionDeploy (POST a gzip'd tar) deploys a pushed tree as a
	// new release: the answer streams the build log, and the
	// TrailerDeployResult trailer carries the SSHDeployResult.
	PathSSHSessionDeploy = "/v1/ssh/sessions/{id}/deploy"
	// PathSSHSessionEnd (POST SSHSessionEnd) audit-logs the session's end.
	PathSSHSessionEnd = "/v1/ssh/sessions/{id}/end"
)

// TrailerDeployResult is the trailer carrying a push deploy's SSHDeployResult.
const TrailerDeployResult = "Gasper-Deploy-Result"

// SSH login names: APP (a shell or command in the app's container, on an
// instance the master chooses), APP.N (on its Nth instance) or SSHLoginGit
// (git push to any app the user owns; the app comes from the path).
const SSHLoginGit = "git"

// Authentication methods.
const (
	SSHMethodPublicKey = "publickey"
	SSHMethodPassword  = "password"
)

// SSHAuthRequest asks whether a login may authenticate with a public key or
// a password (exactly one is set).
type SSHAuthRequest struct {
	// Login is the SSH user name.
	Login string `json:"login"`
	// PublicKey is in authorized_keys form ("ssh-ed25519 AAAA...").
	PublicKey string `json:"public_key,omitempty"`
	// Password is an app's SSH password.
	Password string `json:"password,omitempty"`
	// Remote is the client's address, for the master's log.
	Remote string `json:"remote"`
}

// SSHIdentity is who authenticated: the answer to SSHAuthRequest, and what
// the ssh role presents with each session.
type SSHIdentity struct {
	UserID string `json:"user_id"`
	// User is the user's email, for the ssh role's log.
	User   string `json:"user"`
	Login  string `json:"login"`
	Method string `json:"method"`
	// Fingerprint is the key's SHA256 fingerprint (publickey only).
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Session kinds.
const (
	SSHShell   = "shell"
	SSHCommand = "exec"
	SSHSFTP    = "sftp"
	SSHGitPush = "git-push"
)

// SSHSessionRequest asks for one session.
type SSHSessionRequest struct {
	Identity SSHIdentity `json:"identity"`
	Kind     string      `json:"kind"`
	// App is the app of a git push (from the repository path); other kinds
	// take it from the login.
	App string `json:"app,omitempty"`
	// Command is the command line of an exec session, for the audit log.
	Command string `json:"command,omitempty"`
	Remote  string `json:"remote"`
}

// SSHSession is an authorized session.
type SSHSession struct {
	ID  string `json:"id"`
	App string `json:"app"`
	// Node and Container are where a shell, command or SFTP session runs.
	Node      string `json:"node,omitempty"`
	Container string `json:"container,omitempty"`
	// PushBranch is the branch a git push deploys.
	PushBranch string `json:"push_branch,omitempty"`
}

// SSHSessionEnd reports how a session ended.
type SSHSessionEnd struct {
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"duration"`
}

// SSHDeployResult is how a push deploy ended.
type SSHDeployResult struct {
	OK      bool   `json:"ok"`
	Release int    `json:"release,omitempty"`
	Error   string `json:"error,omitempty"`
}
