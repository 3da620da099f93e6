// Package archive reads and writes the gzip'd tar archives that carry an
// app's source: the master checks every upload with it, the agent extracts
// with it, and the master packs git checkouts with it. Nothing it accepts can
// write outside the directory it is extracted into: absolute paths, ".."
// components, links pointing outside, devices and oversized trees are
// refused with an error that names the entry.
//
// It depends on the standard library only.
package archive
