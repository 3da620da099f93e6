// Package remote is the master's side of getting into apps: the SSH keys
// users register, each app's SSH password and push branch, and every
// session into a container, which it authorizes, audit-logs and relays.
//
// It decides, the agents only ask: the ssh role sends each login (key or
// password) and each session (shell, command, SFTP, git push) here, and
// gets back who the user is and which container, on which node, the session
// reaches. Sessions whose container runs on another node than the ssh
// role's are relayed through the tunnels as exec streams (proto.PathExec);
// `gasper app exec` and `gasper app shell` come through the REST API as the
// same streams.
//
// master/httpapi calls it for /ssh-keys and /apps/{app}/ssh|exec; agents
// with the ssh role reach it through the tunnel (proto.PathSSH*).
package remote
