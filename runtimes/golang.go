package runtimes

import "gasper/internal/image"

// golangBuild compiles the main package at the root into /app/.gasper/app.
// Without a vendor directory, -mod=mod lets a missing go.sum line be
// fetched instead of failing the build.
const golangBuild = `set -e
mkdir -p .gasper
if [ ! -d vendor ]; then export GOFLAGS="${GOFLAGS:--mod=mod}"; fi
go build -trimpath -o .gasper/app .`

// golang builds with Go 1.23 from bookworm-backports.
func golang() Runtime {
	return Runtime{
		Name:     "golang",
		Markers:  []string{"go.mod"},
		Priority: 55,
		Recipe: image.Recipe{
			Name:        "golang",
			ExtraSuites: []string{"bookworm-backports"},
			Packages:    []string{"golang-1.23-go", "ca-certificates"},
			// The package installs only /usr/lib/go-1.23/bin.
			Run: []string{"ln -sf /usr/lib/go-1.23/bin/go /usr/local/bin/go && ln -sf /usr/lib/go-1.23/bin/gofmt /usr/local/bin/gofmt"},
		},
		BuildCmd: golangBuild,
		StartCmd: "exec ./.gasper/app",
		Port:     DefaultPort,
		Env: []string{
			// A go.mod asking for a newer Go must fail, not download one.
			"GOTOOLCHAIN=local",
			// No C compiler in the image; pure Go binaries also run anywhere.
			"CGO_ENABLED=0",
			// Module and build caches stay out of the release.
			"GOPATH=/tmp/go",
			"GOCACHE=/tmp/go-build",
		},
	}
}
