package runtimes

import "gasper/internal/image"

// nodejsBuild installs dependencies only when package.json declares some,
// so an app without any builds offline; a lockfile makes it reproducible.
const nodejsBuild = `set -e
if node -e 'const p = require("./package.json"); process.exit(Object.keys(Object.assign({}, p.dependencies, p.devDependencies)).length ? 0 : 1)' 2>/dev/null; then
	if [ -f package-lock.json ]; then
		npm ci --include=dev --no-audit --no-fund
	else
		npm install --include=dev --no-audit --no-fund
	fi
	if node -e 'process.exit(require("./package.json").scripts?.build ? 0 : 1)'; then
		npm run build
	fi
	npm prune --omit=dev --no-audit --no-fund
fi`

const nodejsStart = `if node -e 'process.exit(require("./package.json").scripts?.start ? 0 : 1)' 2>/dev/null; then
	exec npm start
elif [ -f server.js ]; then
	exec node server.js
elif [ -f index.js ]; then
	exec node index.js
else
	echo "nodejs: no Procfile web line, start script, server.js or index.js to start" >&2
	exit 1
fi`

// nodejs runs Debian's Node.js with npm for dependencies.
func nodejs() Runtime {
	return Runtime{
		Name:    "nodejs",
		Markers: []string{"package.json", "server.js"},
		// Low: package.json often only drives the asset build of an app in
		// another language.
		Priority: 40,
		Recipe: image.Recipe{
			Name:     "nodejs",
			Packages: []string{"nodejs", "npm", "ca-certificates"},
		},
		BuildCmd: nodejsBuild,
		StartCmd: nodejsStart,
		Port:     DefaultPort,
		Env: []string{
			"NODE_ENV=production",
			"npm_config_update_notifier=false",
			// npm trusts the system bundle too, where a node may mount its
			// own CA for builds behind a TLS-inspecting proxy.
			"NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
		},
	}
}
