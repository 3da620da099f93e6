package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// IdentityFile is the name of the node identity inside the state directory.
const IdentityFile = "identity.json"

// Identity is what a node keeps after joining: who it is, how it proves it,
// and which master CA it trusts.
type Identity struct {
	NodeID     string `json:"node_id"`
	Credential string `json:"credential"`
	// Master is the tunnel address the node joined through.
	Master string `json:"master"`
	// CACertPEM is the master's tunnel CA certificate, pinned for every later
	// connection.
	CACertPEM string    `json:"ca_cert_pem"`
	JoinedAt  time.Time `json:"joined_at"`
}

// IdentityPath returns where the identity lives in stateDir.
func IdentityPath(stateDir string) string { return filepath.Join(stateDir, IdentityFile) }

// LoadIdentity reads the identity in stateDir. It reports false, with no
// error, when the node has not joined yet.
func LoadIdentity(stateDir string) (Identity, bool, error) {
	path := IdentityPath(stateDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("reading the node identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, false, fmt.Errorf("reading the node identity %s: %w (delete it and join again with a new token)", path, err)
	}
	if id.NodeID == "" || id.Credential == "" || id.CACertPEM == "" {
		return Identity{}, false, fmt.Errorf("the node identity %s is incomplete: delete it and join again with a new token", path)
	}
	return id, true, nil
}

// SaveIdentity writes the identity into stateDir (made 0700 if missing) with
// mode 0600, atomically.
func SaveIdentity(stateDir string, id Identity) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the node identity: %w", err)
	}
	f, err := os.CreateTemp(stateDir, ".identity.json.tmp*")
	if err != nil {
		return fmt.Errorf("saving the node identity: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("saving the node identity: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("saving the node identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("saving the node identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving the node identity: %w", err)
	}
	if err := os.Rename(f.Name(), IdentityPath(stateDir)); err != nil {
		return fmt.Errorf("saving the node identity: %w", err)
	}
	return nil
}
