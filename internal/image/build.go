package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// policyRCD keeps package scripts from starting daemons inside the build
// chroot, where they would bind the host's ports.
const policyRCD = "#!/bin/sh\nexit 101\n"

// hostsFile replaces the host's /etc/hosts that debootstrap copies in: the
// image must not carry the build machine's names, but some package scripts
// (mariadb-install-db) need localhost to resolve.
const hostsFile = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// chrootEnv is the environment of every command run in a build chroot.
var chrootEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"DEBIAN_FRONTEND=noninteractive",
	"LC_ALL=C",
	"HOME=/root",
}

// baseEntry is a debootstrapped suite in the cache: its root filesystem
// (the lower dir of recipe builds) and its packed layer.
type baseEntry struct {
	Suite  string    `json:"suite"`
	Layer  layerInfo `json:"layer"`
	Built  time.Time `json:"built"`
	rootfs string
	layer  string
}

// recipeEntry is a recipe's packed layer in the cache.
type recipeEntry struct {
	Name       string    `json:"name"`
	Hash       string    `json:"hash"`
	BaseDiffID string    `json:"base_diff_id"` // the base it was built on
	Layer      layerInfo `json:"layer"`
	Built      time.Time `json:"built"`
	Seconds    float64   `json:"build_seconds"`
	layer      string
}

func (b *Builder) baseDir(suite string) string { return filepath.Join(b.cfg.CacheDir, "base", suite) }
func (b *Builder) recipeDir(hash string) string {
	return filepath.Join(b.cfg.CacheDir, "recipes", hash)
}

func (b *Builder) loadBase(suite string) (baseEntry, bool) {
	dir := b.baseDir(suite)
	var e baseEntry
	if err := readJSON(filepath.Join(dir, "layer.json"), &e); err != nil {
		return e, false
	}
	e.rootfs, e.layer = filepath.Join(dir, "rootfs"), filepath.Join(dir, "layer.tar.gz")
	if _, err := os.Stat(e.layer); err != nil {
		return e, false
	}
	return e, true
}

// ensureBase returns suite's base, debootstrapping it if the cache lacks it.
func (b *Builder) ensureBase(ctx context.Context, suite string, out io.Writer) (baseEntry, error) {
	if e, ok := b.loadBase(suite); ok {
		return e, nil
	}
	lock, err := lockFile(ctx, filepath.Join(b.cfg.CacheDir, "locks", "base-"+suite+".lock"), out,
		fmt.Sprintf("waiting for another process building the %s base", suite))
	if err != nil {
		return baseEntry{}, err
	}
	defer lock.Unlock()
	if e, ok := b.loadBase(suite); ok {
		return e, nil
	}
	parent := filepath.Join(b.cfg.CacheDir, "base")
	// Holding the lock, anything left by an earlier attempt is dead.
	removeStale(parent, ".tmp-"+suite+"-")
	tmp, err := os.MkdirTemp(parent, ".tmp-"+suite+"-")
	if err != nil {
		return baseEntry{}, fmt.Errorf("make base dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	rootfs := filepath.Join(tmp, "rootfs")
	done := step(out, "debootstrap --variant=minbase %s", suite)
	// No mirror argument: debootstrap's default, as the machine's network
	// and apt configuration resolve it, is the archive to use.
	// debootstrap mounts /proc in the target itself: in a private mount
	// namespace that mount dies with it, even when it is killed.
	if err := b.runScript(ctx, out, "exec debootstrap --variant=minbase "+shq(suite)+" "+shq(rootfs)); err != nil {
		return baseEntry{}, fmt.Errorf("debootstrap %s: %w", suite, err)
	}
	done()
	if err := tidyBase(rootfs); err != nil {
		return baseEntry{}, fmt.Errorf("prepare %s base: %w", suite, err)
	}
	done = step(out, "pack %s base layer", suite)
	info, err := packLayer(rootfs, filepath.Join(tmp, "layer.tar.gz"), tarOptions{})
	if err != nil {
		return baseEntry{}, err
	}
	done()
	fmt.Fprintf(out, "    %s base layer: %s compressed\n", suite, mib(info.Size))
	e := baseEntry{Suite: suite, Layer: info, Built: time.Now().UTC()}
	if err := writeJSON(filepath.Join(tmp, "layer.json"), e); err != nil {
		return baseEntry{}, fmt.Errorf("write base metadata: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return baseEntry{}, err
	}
	final := b.baseDir(suite)
	if err := os.RemoveAll(final); err != nil { // an incomplete entry
		return baseEntry{}, fmt.Errorf("remove old %s base: %w", suite, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return baseEntry{}, fmt.Errorf("store %s base: %w", suite, err)
	}
	b.log.Info("built base", "suite", suite, "seconds", time.Since(start).Seconds(), "layer_bytes", info.Size)
	e, ok := b.loadBase(suite)
	if !ok {
		return baseEntry{}, fmt.Errorf("stored %s base is unreadable", suite)
	}
	return e, nil
}

// tidyBase removes what debootstrap copied from the host or left for apt,
// and installs policy-rc.d before any package is added on top.
func tidyBase(rootfs string) error {
	for _, g := range []string{"var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "etc/resolv.conf", "etc/hostname"} {
		matches, _ := filepath.Glob(filepath.Join(rootfs, g))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/hosts"), []byte(hostsFile), 0o644); err != nil {
		return err
	}
	p := filepath.Join(rootfs, "usr/sbin/policy-rc.d")
	if err := os.WriteFile(p, []byte(policyRCD), 0o755); err != nil {
		return err
	}
	return os.Chmod(p, 0o755)
}

func (b *Builder) loadRecipe(r Recipe, base baseEntry) (recipeEntry, bool) {
	dir := b.recipeDir(r.Hash())
	var e recipeEntry
	if err := readJSON(filepath.Join(dir, "meta.json"), &e); err != nil {
		return e, false
	}
	e.layer = filepath.Join(dir, "layer.tar.gz")
	if e.BaseDiffID != base.Layer.DiffID {
		return e, false
	}
	if _, err := os.Stat(e.layer); err != nil {
		return e, false
	}
	return e, true
}

// ensureLayer returns r's layer, building it on base if the cache lacks it.
func (b *Builder) ensureLayer(ctx context.Context, r Recipe, base baseEntry, out io.Writer) (recipeEntry, error) {
	if e, ok := b.loadRecipe(r, base); ok {
		return e, nil
	}
	hash := r.Hash()
	lock, err := lockFile(ctx, filepath.Join(b.cfg.CacheDir, "locks", "recipe-"+hash[:16]+".lock"), out,
		fmt.Sprintf("waiting for build of %s in another process", r.ImageName()))
	if err != nil {
		return recipeEntry{}, err
	}
	defer lock.Unlock()
	if e, ok := b.loadRecipe(r, base); ok {
		return e, nil
	}
	parent := filepath.Join(b.cfg.CacheDir, "recipes")
	removeStale(parent, ".tmp-"+hash[:16]+"-")
	tmp, err := os.MkdirTemp(parent, ".tmp-"+hash[:16]+"-")
	if err != nil {
		return recipeEntry{}, fmt.Errorf("make build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	upper := filepath.Join(tmp, "upper")
	if err := b.buildUpper(ctx, r, base, tmp, out); err != nil {
		return recipeEntry{}, err
	}
	done := step(out, "pack %s layer", r.Name)
	info, err := packLayer(upper, filepath.Join(tmp, "layer.tar.gz"), tarOptions{overlay: true})
	if err != nil {
		return recipeEntry{}, err
	}
	done()
	fmt.Fprintf(out, "    %s layer: %s compressed\n", r.Name, mib(info.Size))
	e := recipeEntry{Name: r.Name, Hash: hash, BaseDiffID: base.Layer.DiffID, Layer: info,
		Built: time.Now().UTC(), Seconds: time.Since(start).Seconds()}
	for _, d := range []string{"upper", "work", "merged", "files"} {
		if err := os.RemoveAll(filepath.Join(tmp, d)); err != nil {
			return recipeEntry{}, fmt.Errorf("remove build dir: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(tmp, "meta.json"), e); err != nil {
		return recipeEntry{}, fmt.Errorf("write recipe metadata: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return recipeEntry{}, err
	}
	final := b.recipeDir(hash)
	if err := os.RemoveAll(final); err != nil { // built on an older base
		return recipeEntry{}, fmt.Errorf("remove stale layer of %s: %w", r.Name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return recipeEntry{}, fmt.Errorf("store layer of %s: %w", r.Name, err)
	}
	b.log.Info("built image layer", "recipe", r.Name, "hash", hash[:12], "seconds", e.Seconds, "layer_bytes", info.Size)
	e.layer = filepath.Join(final, "layer.tar.gz")
	return e, nil
}

// buildUpper fills tmp/upper with r's changes to base: it runs one shell
// script in a private mount namespace that mounts an overlay (lower = the
// base rootfs), /proc, /sys and /dev, and chroots into it. The kernel drops
// every one of those mounts when the script's processes end, however they
// end, so a failed or killed build cannot leave a mount behind.
func (b *Builder) buildUpper(ctx context.Context, r Recipe, base baseEntry, tmp string, out io.Writer) error {
	upper, work, merged, files := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged"), filepath.Join(tmp, "files")
	for _, d := range []string{upper, work, merged, files} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("make build dir: %w", err)
		}
	}
	staged := r.Files
	if len(r.ExtraSuites) > 0 {
		list, err := extraSources(base.rootfs, r.suite(), r.ExtraSuites)
		if err != nil {
			return fmt.Errorf("recipe %s: %w", r.Name, err)
		}
		// Before the recipe's own files, so apt-get update sees it.
		staged = append([]File{{Path: "/etc/apt/sources.list.d/gasper-extra.list", Mode: 0o644, Content: list}}, staged...)
	}
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format+"\n", args...) }
	ch := "chroot " + shq(merged) + " "
	p("set -eu")
	p("mount -t overlay overlay -o %s %s", shq("lowerdir="+base.rootfs+",upperdir="+upper+",workdir="+work+",redirect_dir=off,metacopy=off,index=off"), shq(merged))
	p("mount -t proc proc %s", shq(merged+"/proc"))
	p("mount -t sysfs -o ro sysfs %s", shq(merged+"/sys"))
	p("mount --bind /dev %s", shq(merged+"/dev"))
	// apt wants a pty for its log; a private devpts instance, not the host's.
	p("mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts %s", shq(merged+"/dev/pts"))
	// A copy, not a bind mount: removed from the upper dir after the build.
	p("cat /etc/resolv.conf > %s", shq(merged+"/etc/resolv.conf"))
	writeFiles := func(fs []File, offset int) error {
		for i, f := range fs {
			mode := f.Mode.Perm()
			if mode == 0 {
				mode = 0o644
			}
			src := filepath.Join(files, fmt.Sprint(offset+i))
			if err := os.WriteFile(src, []byte(f.Content), 0o600); err != nil {
				return fmt.Errorf("stage %s: %w", f.Path, err)
			}
			// Paths resolve inside the chroot so a symlink in the image
			// cannot point the write at the host.
			p(`%s/bin/sh -c 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod %o "$1"' sh %s < %s`, ch, mode, shq(f.Path), shq(src))
		}
		return nil
	}
	nExtra := len(staged) - len(r.Files)
	if nExtra > 0 {
		p("echo %s", shq(stepMarker+"add apt sources "+strings.Join(r.ExtraSuites, " ")))
		if err := writeFiles(staged[:nExtra], 0); err != nil {
			return err
		}
	}
	p("echo %s", shq(stepMarker+"apt-get update"))
	p("%sapt-get update", ch)
	if len(r.Packages) > 0 {
		p("echo %s", shq(stepMarker+"apt-get install "+strings.Join(r.Packages, " ")))
		p("%sapt-get install -y --no-install-recommends %s", ch, shqAll(r.Packages))
	}
	if len(r.Files) > 0 {
		p("echo %s", shq(stepMarker+fmt.Sprintf("write %d files", len(r.Files))))
		if err := writeFiles(r.Files, nExtra); err != nil {
			return err
		}
	}
	if r.HostCA && len(r.Run) > 0 {
		ca := shq(merged + HostCAPath)
		p(": > %s && mount --bind -o ro %s %s", ca, shq(hostCABundle), ca)
	}
	for _, c := range r.Run {
		p("echo %s", shq(stepMarker+"run: "+firstLine(c)))
		p("%s/bin/sh -ec %s", ch, shq(c))
	}
	if r.HostCA && len(r.Run) > 0 {
		p("umount %s && rm -f %s", shq(merged+HostCAPath), shq(merged+HostCAPath))
	}
	p("echo %s", shq(stepMarker+"clean apt caches"))
	p("%sapt-get clean", ch)
	p("rm -rf %s/var/lib/apt/lists/* %s/etc/resolv.conf", shq(merged), shq(merged))

	if err := b.runScript(ctx, out, s.String()); err != nil {
		return fmt.Errorf("build %s: %w", r.Name, err)
	}
	// Host leftovers: the script removed these through the overlay, but a
	// package may have recreated them.
	for _, g := range []string{"etc/resolv.conf", "var/lib/apt/lists/*", "var/cache/apt/*.bin"} {
		matches, _ := filepath.Glob(filepath.Join(upper, g))
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				continue // a whiteout hiding a base file: keep it
			}
			os.RemoveAll(m)
		}
	}
	return nil
}

// runScript runs a shell script as root in a private mount namespace, with
// its output going to out. Every mount it makes is invisible to the host and
// released when its processes end. The whole process group is killed when
// ctx ends and when the script returns, so no chroot daemon lingers.
func (b *Builder) runScript(ctx context.Context, out io.Writer, script string) error {
	// Without --make-rprivate, mounts under the host's shared root would
	// propagate back out of the new namespace.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "mount --make-rprivate / || exit 1\n"+script)
	cmd.Env = append(append([]string(nil), chrootEnv...), proxyEnv()...)
	so := &scriptOutput{out: out}
	var tail tailBuffer
	w := io.MultiWriter(so, &tail)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWNS}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	so.Close(err == nil)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fmt.Errorf("%v: %s", err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last lines of a command's output for its error.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 64<<10 {
		t.b = t.b[len(t.b)-(32<<10):]
	}
	return len(p), nil
}

// String returns the last few non-marker lines.
func (t *tailBuffer) String() string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(t.b))
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, stepMarker) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// extraSources derives apt source lines for extra suites from the base's own
// sources: same URI and components, other suite.
func extraSources(rootfs, suite string, extra []string) (string, error) {
	b, err := os.ReadFile(filepath.Join(rootfs, "etc/apt/sources.list"))
	if err != nil {
		return "", fmt.Errorf("read base apt sources: %w", err)
	}
	var out strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// deb [options] URI SUITE COMPONENTS...
		i := 1
		if len(f) > 1 && strings.HasPrefix(f[1], "[") {
			for i < len(f) && !strings.HasSuffix(f[i], "]") {
				i++
			}
			i++
		}
		if len(f) < i+2 || f[0] != "deb" || f[i+1] != suite {
			continue
		}
		for _, x := range extra {
			g := append([]string(nil), f...)
			g[i+1] = x
			out.WriteString(strings.Join(g, " ") + "\n")
		}
	}
	if out.Len() == 0 {
		return "", fmt.Errorf("no apt source for suite %s in the base to derive %v from", suite, extra)
	}
	return out.String(), nil
}

// removeStale removes dir's entries whose names start with prefix.
func removeStale(dir, prefix string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shqAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shq(s)
	}
	return strings.Join(q, " ")
}

func firstLine(s string) string {
	s, _, cut := strings.Cut(strings.TrimSpace(s), "\n")
	if cut || len(s) > 72 {
		if len(s) > 72 {
			s = s[:72]
		}
		s += " ..."
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// hostCABundle is the host's CA bundle, which Debian keeps here.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// proxyEnv passes the host's proxy settings, if any, on to debootstrap and apt.
func proxyEnv() []string {
	var env []string
	for _, k := range []string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
		"GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOINSECURE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
