package dbs

import (
	"slices"
	"strings"
	"testing"

	"gasper/api"
	"gasper/engines"
	"gasper/master/store"
)

// The master names engines, URL schemes and variables without linking the image recipes; they
// must stay those of the engines package, or linked apps get URLs their drivers do not read.
func TestEnginesInStep(t *testing.T) {
	var names []string
	for _, e := range engines.All() {
		names = append(names, e.Name)
		if scheme[e.Name] != e.Scheme || envVar[e.Name] != e.EnvVar {
			t.Errorf("%s: master has scheme %q and variable %q, the engine %q and %q", e.Name, scheme[e.Name], envVar[e.Name], e.Scheme, e.EnvVar)
		}
		s := &Service{cfg: Config{Domain: "example.test"}}
		d := store.Database{Name: "my-db", Engine: e.Name}
		v := api.Database{Host: s.host("my-db"), Port: 5555}
		if got, want := s.url(d, v, "pw"), e.URL("my-db.db.example.test", 5555, "my-db", "pw"); got != want {
			t.Errorf("%s: master URL %s, engine URL %s", e.Name, got, want)
		}
	}
	if !slices.Equal(names, api.Engines) {
		t.Errorf("engines %v, api.Engines %v", names, api.Engines)
	}
}

func TestPasswords(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := password()
		if len(p) != 32 || seen[p] {
			t.Fatalf("password %q: want 32 characters, each time new", p)
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				t.Fatalf("password %q has %q: the engines' scripts accept letters and digits only", p, r)
			}
		}
		seen[p] = true
	}
}

func TestMaskedURL(t *testing.T) {
	s := &Service{cfg: Config{Domain: "example.test"}}
	for _, e := range api.Engines {
		d := store.Database{Name: "my-db", Engine: e}
		u := s.url(d, api.Database{Host: s.host("my-db"), Port: 5555}, maskedPassword)
		if !strings.Contains(u, ":****@my-db.db.example.test:5555/") {
			t.Errorf("%s: masked URL %s", e, u)
		}
	}
}
