package runtimes

import "gasper/internal/image"

// rubyBuild installs the Gemfile's gems into /app/vendor/bundle, using the
// gems Debian already installed when they satisfy it.
const rubyBuild = `set -e
if [ -f Gemfile ]; then
	bundle install
fi`

const rubyStart = `if [ -f config.ru ] && [ -f Gemfile ]; then
	exec bundle exec rackup --host 0.0.0.0 --port "$PORT"
elif [ -f app.rb ]; then
	if [ -f Gemfile ]; then exec bundle exec ruby app.rb; fi
	exec ruby app.rb
else
	echo "ruby: no Procfile web line, config.ru with a Gemfile, or app.rb to start" >&2
	exit 1
fi`

// ruby runs Debian's Ruby with bundler; webrick is packaged.
func ruby() Runtime {
	return Runtime{
		Name:     "ruby",
		Markers:  []string{"Gemfile", "config.ru", "app.rb"},
		Priority: 60,
		Recipe: image.Recipe{
			Name:     "ruby",
			Packages: []string{"ruby", "ruby-bundler", "ruby-webrick", "ruby-rack", "ca-certificates"},
		},
		BuildCmd: rubyBuild,
		StartCmd: rubyStart,
		Port:     DefaultPort,
		Env: []string{
			"BUNDLE_PATH=/app/vendor/bundle",
			"BUNDLE_APP_CONFIG=/app/.bundle",
			"BUNDLE_WITHOUT=development:test",
		},
	}
}
