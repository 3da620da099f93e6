// Package sshd is the ssh role: an SSH server (github.com/gliderlabs/ssh)
// through which users reach their apps' containers.
//
// `ssh -p 2222 APP@NODE` opens a shell in one of the app's containers,
// `ssh APP@NODE CMD` runs a command there with its exit status and separate
// stdout and stderr, the sftp subsystem serves the container's files (so
// scp and sftp work), and `git push ssh://APP@NODE:2222/APP.git` deploys
// the pushed tree as a new release, streaming the build log back.
//
// The role decides nothing itself: it asks the master, over the tunnel,
// whether a key or password logs a user in and which container a session
// reaches (proto.PathSSH*). A container on this very node is entered
// through the app role in-process; one elsewhere through the master, which
// relays the exec stream to the node that runs it. Every session is
// audit-logged by the master, start and end.
package sshd
