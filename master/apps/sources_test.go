package apps

import (
	"strings"
	"testing"
)

func TestValidGitURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want string // "" means accepted
	}{
		{"https://git.example.com/team/app.git", ""},
		{"git://127.0.0.1:9418/repo", ""},
		{"ssh://git@git.example.com/app.git", ""},
		{"--upload-pack=touch /tmp/x", "not valid"},
		{"ssh://-oProxyCommand=touch%20/tmp/x/repo", "needs a host"},
		{"ssh://-oProxyCommand=x@host/repo", "needs a host"},
		{"file:///etc", "local paths"},
		{"/srv/repo.git", "local paths"},
		{"ext::sh -c touch% /tmp/x", "not valid"},
		{"ext::x", "other transports"},
		{"https://", "needs a host"},
	} {
		err := validGitURL(tt.url)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("validGitURL(%q) = %v, want %q", tt.url, err, tt.want)
		}
	}
}
