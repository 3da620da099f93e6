package runtimes

import "gasper/internal/image"

// static serves the source tree as files with busybox's httpd: a 2 MiB
// image that starts in milliseconds.
func static() Runtime {
	return Runtime{
		Name:     "static",
		Markers:  []string{"index.html", "index.htm"},
		Priority: 10,
		Recipe: image.Recipe{
			Name:     "static",
			Packages: []string{"busybox"},
		},
		StartCmd: `exec busybox httpd -f -v -p "0.0.0.0:$PORT" -h /app`,
		Port:     DefaultPort,
	}
}
