package runtimes

import "gasper/internal/image"

// python2Build refuses requirements: Debian ships no pip for Python 2, so
// dependencies must be vendored into the source tree.
const python2Build = `if ` + hasRequirements + `; then
	echo "python2: there is no pip for Python 2; vendor the packages in requirements.txt into the app" >&2
	exit 1
fi`

const python2Start = `if [ -f app.py ]; then
	exec python app.py
elif [ -f main.py ]; then
	exec python main.py
else
	echo "python2: no Procfile web line, app.py or main.py to start" >&2
	exit 1
fi`

// python2 runs Python 2.7 from bullseye, the last Debian that has it. It is
// chosen only when runtime.txt or .python-version asks for 2.x.
func python2() Runtime {
	return Runtime{
		Name:          "python2",
		Markers:       []string{"runtime.txt", ".python-version"},
		MarkerPattern: `^(python-?)?2(\.|$)`,
		Priority:      75,
		Recipe: image.Recipe{
			Name:     "python2",
			Suite:    "bullseye",
			Packages: []string{"python2.7"},
			// Python 2 apps expect "python" to be Python 2.
			Run: []string{"ln -sf /usr/bin/python2.7 /usr/local/bin/python2 && ln -sf /usr/bin/python2.7 /usr/local/bin/python"},
		},
		BuildCmd: python2Build,
		StartCmd: python2Start,
		Port:     DefaultPort,
		Env:      []string{"PYTHONUNBUFFERED=1"},
	}
}
