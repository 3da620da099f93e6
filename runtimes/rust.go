package runtimes

import "gasper/internal/image"

// rustBuild installs the crate's binaries into /app/.gasper/bin and points
// /app/.gasper/app at the first; the target directory stays out of the
// release. Debian's cargo is 1.63: crates newer than that must be vendored
// (a vendor/ directory builds offline).
const rustBuild = `set -e
offline=""
if [ -d vendor ]; then offline="--offline"; fi
cargo install $offline --path . --root /app/.gasper
rm -f /app/.gasper/.crates.toml /app/.gasper/.crates2.json
for b in /app/.gasper/bin/*; do
	ln -sf "bin/${b##*/}" /app/.gasper/app
	break
done
test -x /app/.gasper/app`

// rust builds with Debian's rustc and cargo.
func rust() Runtime {
	return Runtime{
		Name:     "rust",
		Markers:  []string{"Cargo.toml"},
		Priority: 50,
		Recipe: image.Recipe{
			Name:     "rust",
			Packages: []string{"rustc", "cargo", "ca-certificates"},
		},
		BuildCmd: rustBuild,
		StartCmd: "exec ./.gasper/app",
		Port:     DefaultPort,
		Env: []string{
			"CARGO_HOME=/tmp/cargo",
			"CARGO_TARGET_DIR=/tmp/cargo-target",
		},
	}
}
