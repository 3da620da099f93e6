package secrets

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret.key")
	b, err := LoadOrCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("DATABASE_URL=postgres://u:p@h/db")
	s1, s2 := b.Seal(msg), b.Seal(msg)
	if bytes.Contains(s1, []byte("postgres")) || bytes.Equal(s1, s2) {
		t.Fatal("sealed value leaks the plaintext or repeats")
	}
	again, _ := LoadOrCreate(p) // the same key after a restart
	if got, err := again.Open(s1); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q, %v", got, err)
	}
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	if _, err := other.Open(s1); err == nil {
		t.Fatal("opened with another key")
	}
	s1[len(s1)-1] ^= 1
	if _, err := b.Open(s1); err == nil {
		t.Fatal("opened a tampered value")
	}
}
