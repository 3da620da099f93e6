package main

import (
	"testing"
	"time"
)

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536 << 20, "1.5 GiB"}, {8 << 30, "8.0 GiB"}, {3 << 40, "3.0 TiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestAgoAndUntil(t *testing.T) {
	now := testNow
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"seconds", ago(now, now.Add(-3*time.Second)), "3s ago"},
		{"minutes", ago(now, now.Add(-5*time.Minute-10*time.Second)), "5m ago"},
		{"hours", ago(now, now.Add(-26*time.Hour)), "26h ago"},
		{"days", ago(now, now.Add(-72*time.Hour)), "3d ago"},
		{"clock skew", ago(now, now.Add(time.Minute)), "just now"},
		{"until rounds", until(now, now.Add(720*time.Hour-time.Second)), "in 30d"},
		{"until past", until(now, now.Add(-time.Second)), "expired"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gjt_abc.DEF-1", "gjt_abc.DEF-1"},
		{"[::1]:7443", "[::1]:7443"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
