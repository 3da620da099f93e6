package jsonfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	var got map[string]int
	if ok, err := Load(path, &got); ok || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want false, nil", ok, err)
	}
	if err := Save(path, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, map[string]int{"b": 2}); err != nil {
		t.Fatal(err)
	}
	if ok, err := Load(path, &got); !ok || err != nil || len(got) != 1 || got["b"] != 2 {
		t.Fatalf("Load = %v, %v, %v; want the last value saved", ok, err, got)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600: it may hold passwords", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want only the file itself", len(entries))
	}
	if err := os.WriteFile(path, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, &got); err == nil {
		t.Error("Load of malformed JSON succeeded")
	}
}
