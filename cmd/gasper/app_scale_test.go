package main

import (
	"encoding/json"
	"strings"
	"testing"

	"gasper/api"
)

func TestParseReplicas(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "3": 3, "web=2": 2, "100": 100} {
		if got, err := parseReplicas(in); err != nil || got != want {
			t.Errorf("parseReplicas(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, wantErr := range map[string]string{"101": "0 to 100", "-1": "0 to 100", "two": "0 to 100", "worker=2": "only web"} {
		if _, err := parseReplicas(in); err == nil || !isUsage(err) || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("parseReplicas(%q) = %v; want a usage error with %q", in, err, wantErr)
		}
	}
}

func TestAppScale(t *testing.T) {
	m, env := appEnv(t)
	wantExit(t, invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil)), 0)

	r := invocation{env: env}.run(t, "app", "scale", "web", "3")
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "web: 3/3 replicas running") || strings.Count(r.stdout, "healthy") != 3 || !strings.Contains(r.stdout, "node3") {
		t.Errorf("scale 3: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = invocation{env: env}.run(t, "app", "scale", "-a", "web", "web=2", "--json")
	wantExit(t, r, 0)
	var a api.App
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || a.Replicas != 2 || a.Running != 2 {
		t.Errorf("scale --json: %v, %+v", err, a)
	}
	if got := m.apps.byName["web"].Replicas; got != 2 {
		t.Errorf("master has %d replicas, want 2", got)
	}
	r = invocation{env: env}.run(t, "app", "scale", "web")
	wantExit(t, r, 2)
	if !strings.Contains(r.stderr, "missing N") {
		t.Errorf("scale without N: %q", r.stderr)
	}
	r = invocation{env: env}.run(t, "app", "scale", "web", "1000")
	wantExit(t, r, 2)
}
