package runtimes

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gasper/internal/image"
)

// AppDir is where an application's source lives inside its build and run
// containers; BuildCmd and StartCmd run there. Only AppDir is kept as the
// release layer, so a build must put everything it makes under it.
const AppDir = "/app"

// DefaultPort is the port applications listen on unless a runtime or the
// user says otherwise.
const DefaultPort = 8080

// Runtime is one language Gasper can build and run.
type Runtime struct {
	// Name is one of api.Runtimes.
	Name string
	// Markers are root-level files whose presence identifies the runtime.
	Markers []string
	// MarkerPattern, when set, is a regular expression a marker file's
	// content (trimmed) must match for the runtime to be detected: it tells
	// python2 from python3 by runtime.txt.
	MarkerPattern string
	// Priority orders detection when several runtimes match: the highest
	// wins (php beats static for index.php + index.html; every language
	// beats nodejs, whose package.json often only drives asset tooling).
	Priority int
	// Recipe is the runtime image that builds and runs the application.
	Recipe image.Recipe
	// BuildCmd runs with sh -c in AppDir inside a build container of
	// Recipe's image, with PORT and Env set and the network on. Empty means
	// there is nothing to build.
	BuildCmd string
	// StartCmd runs with sh -c in AppDir and must serve on 0.0.0.0:$PORT.
	// A Procfile's web line replaces it (see StartCommand).
	StartCmd string
	// Port is the default port the application gets as PORT.
	Port int
	// Env is extra environment (KEY=VALUE) for both build and run.
	Env []string
}

// ErrUndetected is wrapped by Detect's error when no runtime matches.
var ErrUndetected = errors.New("cannot tell the runtime of this app")

// standardPath is the PATH of Debian images; runtimes that add directories
// in front of it spell it out because an Env entry replaces the image's.
const standardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// commonEnv is given to every runtime: HOME points at a directory any user
// can write, since containers may run as a user without a home.
var commonEnv = []string{"HOME=/tmp", "LANG=C.UTF-8"}

// constructors, in the order of api.Runtimes.
var constructors = []func() Runtime{static, php, python3, python2, nodejs, golang, ruby, rust}

// All returns every runtime, in the order of api.Runtimes. The values are
// fresh copies the caller may change.
func All() []Runtime {
	out := make([]Runtime, 0, len(constructors))
	for _, c := range constructors {
		rt := c()
		rt.Env = append(slices.Clone(commonEnv), rt.Env...)
		out = append(out, rt)
	}
	return out
}

// Get returns the runtime called name.
func Get(name string) (Runtime, bool) {
	for _, rt := range All() {
		if rt.Name == name {
			return rt, true
		}
	}
	return Runtime{}, false
}

// Recipes returns every runtime's image recipe, for building them ahead of
// time.
func Recipes() []image.Recipe {
	var out []image.Recipe
	for _, rt := range All() {
		out = append(out, rt.Recipe)
	}
	return out
}

// Detect tells the runtime of the source tree extracted at dir by the
// marker files at its root. When nothing matches, the error (wrapping
// ErrUndetected) lists the files that would have identified one.
func Detect(dir string) (Runtime, error) {
	if fi, err := os.Stat(dir); err != nil {
		return Runtime{}, fmt.Errorf("detect runtime: %w", err)
	} else if !fi.IsDir() {
		return Runtime{}, fmt.Errorf("detect runtime: %s is not a directory", dir)
	}
	all := All()
	// Stable, so equal priorities keep the api.Runtimes order.
	slices.SortStableFunc(all, func(a, b Runtime) int { return b.Priority - a.Priority })
	for _, rt := range all {
		if rt.matches(dir) {
			return rt, nil
		}
	}
	var markers []string
	for _, rt := range All() {
		for _, m := range rt.Markers {
			if !slices.Contains(markers, m) {
				markers = append(markers, m)
			}
		}
	}
	return Runtime{}, fmt.Errorf("%w: add one of %s or pass --runtime", ErrUndetected, strings.Join(markers, ", "))
}

// matches reports whether one of rt's markers is a regular file at dir's
// root (matching MarkerPattern, if rt has one).
func (rt Runtime) matches(dir string) bool {
	var re *regexp.Regexp
	if rt.MarkerPattern != "" {
		re = regexp.MustCompile(rt.MarkerPattern)
	}
	for _, m := range rt.Markers {
		p := filepath.Join(dir, m)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if re == nil {
			return true
		}
		b, err := os.ReadFile(p)
		if err == nil && re.Match([]byte(strings.TrimSpace(string(b)))) {
			return true
		}
	}
	return false
}

// StartCommand returns the command that starts the application at dir with
// rt: the web line of a Procfile at dir's root if there is one (Heroku's
// habit, "web: gunicorn app:app"), else rt.StartCmd.
func StartCommand(rt Runtime, dir string) string {
	if cmd, ok := ProcfileWeb(dir); ok {
		return cmd
	}
	return rt.StartCmd
}

// procLine is a Procfile entry: a process type, a colon and a command.
var procLine = regexp.MustCompile(`^([A-Za-z0-9_-]+)[ \t]*:[ \t]*(.*)$`)

// ProcfileWeb returns the command of the web process in dir's Procfile.
func ProcfileWeb(dir string) (string, bool) {
	f, err := os.Open(filepath.Join(dir, "Procfile"))
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := procLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m != nil && m[1] == "web" && strings.TrimSpace(m[2]) != "" {
			return strings.TrimSpace(m[2]), true
		}
	}
	return "", false
}
