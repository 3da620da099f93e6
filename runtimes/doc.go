// Package runtimes declares the languages Gasper runs applications in. Each
// runtime is a small declarative value: the files that identify it in a
// source tree, the Debian recipe of its image, the commands that build and
// start an application in a container made from that image, and its default
// port.
//
// The master uses Detect to pick a runtime for uploaded source; the agent
// uses Get, the Recipe (through internal/image), BuildCmd and StartCommand
// to build a release and run it. The example apps under examples/ are built
// and served by this package's tests with each runtime's real image.
package runtimes
