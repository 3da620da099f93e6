// Package rootfs does file operations inside a directory tree as if that
// tree were the whole filesystem: every path is resolved by the kernel with
// openat2's RESOLVE_IN_ROOT, so neither ".." nor a symbolic link (absolute
// or relative, planted before or during the call) leads outside it.
//
// The app role serves SFTP into a container's files with it, from the
// host, through /proc/PID/root of the container's process: whatever the
// container's owner put in the tree, the agent (root on the host) touches
// only files inside it.
//
// It needs Linux 5.6 or newer (openat2).
package rootfs
