package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	args = append(args, "--", url, dir+"/src")
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	if token != "" {
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Bearer "+token)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", api.Errorf(api.CodeBadRequest, "git clone of %s failed: %v (is the URL right, and the branch there?)", url, err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.Pack(dir+"/src", pw, func(rel string, d fs.DirEntry) bool {
			return d.IsDir() && d.Name() == ".git"
		}))
	}()
	return s.Put(pr)
}

// validGitURL accepts the URL forms git can fetch without a shell: a
// leading '-' would be an option.
func validGitURL(u string) error {
	if u == "" || strings.HasPrefix(u, "-") || strings.ContainsAny(u, " \n\r\t") || len(u) > 2048 {
		return api.Errorf(api.CodeBadRequest, "git URL %q is not valid", u)
	}
	for _, p := range []string{"https://", "http://", "git://", "ssh://"} {
		if strings.HasPrefix(u, p) {
			return nil
		}
	}
	return api.Errorf(api.CodeBadRequest, "git URL %q: use an https://, http://, git:// or ssh:// URL (local paths are refused: they would read the master's own disk)", u)
}
