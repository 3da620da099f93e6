package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"gasper/api"
)

// File names inside the config directory.
const (
	ConfigFile      = "config.yaml"
	CredentialsFile = "credentials.json"
)

// EnvConfigDir names the environment variable that overrides the directory.
const EnvConfigDir = "GASPER_CONFIG_DIR"

// Dir returns the config directory: $GASPER_CONFIG_DIR, else gasper/ under
// the user's config directory (os.UserConfigDir, so $XDG_CONFIG_HOME on Linux).
func Dir(getenv func(string) string) (string, error) {
	if d := getenv(EnvConfigDir); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory (set %s): %w", EnvConfigDir, err)
	}
	return filepath.Join(base, "gasper"), nil
}

// Config is config.yaml.
type Config struct {
	// Master is the master URL commands talk to.
	Master string `yaml:"master,omitempty"`
	// Email is the account last logged in with, offered by the next login.
	Email string `yaml:"email,omitempty"`
}

// Credentials is credentials.json: one session with one master.
type Credentials struct {
	// Master is the URL the session belongs to; the tokens are never sent
	// to another master.
	Master string `json:"master"`
	api.Session
}

// Load reads config.yaml from dir; a missing file is an empty Config.
func Load(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return c, nil
}

// Save writes c to config.yaml in dir, creating dir (mode 0700) if needed.
func Save(dir string, c Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := writeFile(dir, ConfigFile, b); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// LoadCredentials reads credentials.json from dir; it returns nil and no
// error when there is none.
func LoadCredentials(dir string) (*Credentials, error) {
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, CredentialsFile), err)
	}
	return &c, nil
}

// SaveCredentials writes c to credentials.json in dir with mode 0600 (dir
// 0700), replacing any previous file atomically so a crash never leaves half
// a token pair.
func SaveCredentials(dir string, c Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	if err := writeFile(dir, CredentialsFile, append(b, '\n')); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	return nil
}

// RemoveCredentials deletes credentials.json from dir; none is no error.
func RemoveCredentials(dir string) error {
	err := os.Remove(filepath.Join(dir, CredentialsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove credentials: %w", err)
	}
	return nil
}

// writeFile writes name in dir through a 0600 temporary file and a rename.
func writeFile(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}
