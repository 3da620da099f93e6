package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"gasper/api"
	"gasper/internal/archive"
)

// Sources keeps source archives in a directory, named by their SHA-256.
type Sources struct {
	dir string
}

// NewSources returns a Sources over dir, creating it.
func NewSources(dir string) (*Sources, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create sources dir: %w", err)
	}
	return &Sources{dir: dir}, nil
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Sources) path(hash string) (string, error) {
	if !hashRE.MatchString(hash) {
		return "", api.Errorf(api.CodeBadRequest, "%q is not a source hash", hash)
	}
	return filepath.Join(s.dir, hash+".tar.gz"), nil
}

// Put stores the archive read from r after checking every entry, and
// returns its hash. A rejected archive leaves nothing behind.
func (s *Sources) Put(r io.Reader) (string, error) {
	tmp, err := os.CreateTemp(s.dir, "upload-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		return "", fmt.Errorf("receive source archive: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := archive.Check(tmp, archive.DefaultLimits); err != nil {
		return "", api.Errorf(api.CodeBadRequest, "source archive refused: %s", err)
	}
	hash := hex.EncodeToString(h.Sum(nil))
	dst, _ := s.path(hash)
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("store source archive: %w", err)
	}
	return hash, nil
}

// Open opens a stored archive.
func (s *Sources) Open(hash string) (*os.File, error) {
	p, err := s.path(hash)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, api.Errorf(api.CodeNotFound, "source %s not found", hash)
	}
	return f, err
}

// Remove deletes a stored archive.
func (s *Sources) Remove(hash string) error {
	p, err := s.path(hash)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// FromGit clones a branch of a git repository (shallow) and stores its tree
// as an archive. The token, if any, goes to git through its environment as
// an HTTP header, never on a command line or in a log.
func (s *Sources) FromGit(ctx context.Context, url, branch, token string, log io.Writer) (string, error) {
	dir, err := os.MkdirTemp(s.dir, "git-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	args := []string{"clone", "--depth", "1", "--single-branch", "--no-tags"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	// Relative target and Dir: git's messages name "src", not the master's paths.
	args = append(args, "--", url, "src")
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	if token != "" {
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Bearer "+token)
	}
	var last lastLine
	cmd.Stdout, cmd.Stderr = log, io.MultiWriter(log, &last)
	if err := cmd.Run(); err != nil {
		return "", api.Errorf(api.CodeBadRequest, "git clone of %s failed: %s", url, orDefault(last.String(), err.Error()))
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.Pack(dir+"/src", pw, func(rel string, d fs.DirEntry) bool {
			return d.IsDir() && d.Name() == ".git"
		}))
	}()
	return s.Put(pr)
}

// lastLine keeps the last non-empty line written to it: git's reason.
type lastLine struct{ buf []byte }

func (l *lastLine) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if len(l.buf) > 8192 {
		l.buf = l.buf[len(l.buf)-8192:]
	}
	return len(p), nil
}

func (l *lastLine) String() string {
	lines := strings.FieldsFunc(string(l.buf), func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// validGitURL accepts the URL forms git can fetch without a shell: a
// leading '-', in the URL or its host, would be an option to git or ssh.
func validGitURL(u string) error {
	if u == "" || strings.HasPrefix(u, "-") || strings.ContainsAny(u, " \n\r\t") || len(u) > 2048 {
		return api.Errorf(api.CodeBadRequest, "git URL %q is not valid", u)
	}
	known := false
	for _, p := range []string{"https://", "http://", "git://", "ssh://"} {
		known = known || strings.HasPrefix(u, p)
	}
	if !known {
		return api.Errorf(api.CodeBadRequest, "git URL %q: use an https://, http://, git:// or ssh:// URL (local paths and other transports are refused: they would run on the master itself)", u)
	}
	parsed, err := neturl.Parse(u)
	if err != nil || parsed.Host == "" || strings.HasPrefix(parsed.Host, "-") || strings.HasPrefix(parsed.User.Username(), "-") {
		return api.Errorf(api.CodeBadRequest, "git URL %q is not valid: it needs a host, like https://git.example.com/team/app.git", u)
	}
	return nil
}
