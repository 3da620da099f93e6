package runtimes

import "gasper/internal/image"

// hasRequirements is true in sh when requirements.txt lists anything but
// comments and blank lines.
const hasRequirements = `grep -qvE '^[[:space:]]*(#|$)' requirements.txt 2>/dev/null`

// python3Build makes the app's virtualenv in /app/.venv (system pip refuses
// installs, PEP 668) and installs its requirements or its own project into
// it. Without anything to install, the venv skips pip, which would only
// add 15 MiB to every release.
const python3Build = `set -e
if ` + hasRequirements + `; then
	python3 -m venv /app/.venv
	/app/.venv/bin/pip install -r requirements.txt
elif [ -f pyproject.toml ] || [ -f setup.py ]; then
	python3 -m venv /app/.venv
	/app/.venv/bin/pip install .
else
	python3 -m venv --without-pip /app/.venv
fi`

// python3Start prefers gunicorn when the app asked for it, else runs the
// app's main script, which must read PORT itself.
const python3Start = `if grep -qiE '^[[:space:]]*gunicorn' requirements.txt 2>/dev/null && [ -f wsgi.py ]; then
	exec python -m gunicorn --bind "0.0.0.0:$PORT" wsgi
elif grep -qiE '^[[:space:]]*gunicorn' requirements.txt 2>/dev/null && [ -f app.py ]; then
	exec python -m gunicorn --bind "0.0.0.0:$PORT" app:app
elif [ -f app.py ]; then
	exec python app.py
elif [ -f main.py ]; then
	exec python main.py
else
	echo "python3: no Procfile web line, app.py or main.py to start" >&2
	exit 1
fi`

// python3 runs Debian's Python 3 with the app's packages in a venv.
func python3() Runtime {
	return Runtime{
		Name:     "python3",
		Markers:  []string{"requirements.txt", "pyproject.toml", "setup.py", "Pipfile", "runtime.txt", "app.py"},
		Priority: 70,
		Recipe: image.Recipe{
			Name:     "python3",
			Packages: []string{"python3", "python3-pip", "python3-venv", "ca-certificates"},
		},
		BuildCmd: python3Build,
		StartCmd: python3Start,
		Port:     DefaultPort,
		Env: []string{
			// The venv first, so Procfile commands find what pip installed.
			"PATH=/app/.venv/bin:" + standardPath,
			"VIRTUAL_ENV=/app/.venv",
			"PYTHONUNBUFFERED=1",
			"PIP_NO_INPUT=1",
			"PIP_NO_CACHE_DIR=1",
			"PIP_DISABLE_PIP_VERSION_CHECK=1",
			// The system bundle, not pip's own, so a CA a node mounts for
			// builds is trusted.
			"PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
		},
	}
}
