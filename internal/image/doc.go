// Package image provides the images Gasper runs: it builds them from Debian
// recipes (one shared debootstrap base layer per suite plus one layer per
// recipe, made through an overlay mount), caches the layers on disk keyed by
// the recipe's content hash, and imports them into containerd; or it pulls
// an OCI reference when a recipe names one.
//
// runtimes/ and engines/ declare Recipes; the agent owns a Builder per
// containerd namespace and calls Ensure before it starts containers, and
// AppendDir to make an application's release image.
package image
