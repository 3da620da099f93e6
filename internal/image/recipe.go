package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// DefaultSuite is the Debian suite used when a Recipe names none.
const DefaultSuite = "bookworm"

// buildFormat is mixed into every recipe hash: bump it when the way layers
// are built changes, so caches built the old way are not reused.
const buildFormat = "gasper-image-v1"

// namePrefix is the repository prefix of built images. It is not a real
// registry host: built images never leave the node.
const namePrefix = "gasper.local/runtime/"

// HostCAPath is where a recipe with HostCA finds the host's CA bundle while Run runs.
const HostCAPath = "/tmp/gasper-host-ca.crt"

// File is one file a Recipe writes into its layer.
type File struct {
	Path    string      // absolute path inside the image
	Mode    fs.FileMode // permission bits; 0644 when zero
	Content string
}

// Recipe names an image: a Debian suite, packages, files, commands and
// image config, or an OCI reference to pull instead.
type Recipe struct {
	Name        string   // short name, [a-z0-9-], e.g. "python3"
	Suite       string   // "bookworm" (default) or "bullseye"
	ExtraSuites []string // e.g. "bookworm-backports": added as apt sources with the base's own URI
	Packages    []string // installed with apt-get install -y --no-install-recommends
	Files       []File   // written into the layer after the packages
	Run         []string // shell commands run in the chroot after Files
	// HostCA makes the host's CA bundle readable by Run at HostCAPath (bind-mounted read-only,
	// never kept in the layer), for downloads through a TLS-inspecting proxy; Run also gets the
	// host's Go module settings (GOPROXY, GONOSUMDB, ...).
	HostCA     bool
	Env        []string // image config Env (KEY=VALUE)
	Entrypoint []string // image config Entrypoint
	Cmd        []string // image config Cmd
	WorkDir    string   // image config WorkingDir
	User       string   // image config User
	Ref        string   // if set: pull this OCI reference instead of building; all else is ignored
}

func (r Recipe) suite() string {
	if r.Suite == "" {
		return DefaultSuite
	}
	return r.Suite
}

// Hash is the hex SHA-256 of everything that shapes r's image; it is stable
// across processes and releases unless the build format changes.
func (r Recipe) Hash() string {
	var v any
	if r.Ref != "" {
		v = struct{ Format, Ref string }{buildFormat, r.Ref}
	} else {
		n := r
		n.Suite = r.suite()
		v = struct {
			Format string
			Recipe Recipe
		}{buildFormat, n}
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Recipe holds only strings, slices and ints: Marshal cannot fail.
		panic(fmt.Sprintf("image: marshal recipe: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ImageName is the name r's image has in containerd: the Ref itself, or
// gasper.local/runtime/NAME:HASH12 for built images.
func (r Recipe) ImageName() string {
	if r.Ref != "" {
		return normalizeRef(r.Ref)
	}
	return namePrefix + r.Name + ":" + r.Hash()[:12]
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	suiteRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.:~=/-]*$`)
)

// Validate reports whether r can be built (or pulled).
func (r Recipe) Validate() error {
	if r.Ref != "" {
		if strings.ContainsAny(r.Ref, " \t\n") {
			return fmt.Errorf("recipe %q: invalid reference %q", r.Name, r.Ref)
		}
		return nil
	}
	if !nameRE.MatchString(r.Name) {
		return fmt.Errorf("recipe name %q: must be [a-z0-9-], 1-63 characters", r.Name)
	}
	for _, s := range append([]string{r.suite()}, r.ExtraSuites...) {
		if !suiteRE.MatchString(s) {
			return fmt.Errorf("recipe %s: invalid suite %q", r.Name, s)
		}
	}
	for _, p := range r.Packages {
		if !packageRE.MatchString(p) {
			return fmt.Errorf("recipe %s: invalid package name %q", r.Name, p)
		}
	}
	for _, f := range r.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("recipe %s: file path %q must be absolute and clean", r.Name, f.Path)
		}
	}
	return nil
}
