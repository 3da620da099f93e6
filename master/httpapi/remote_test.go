package httpapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"gasper/api"
)

// testPublicKey returns a fresh ed25519 public key in authorized_keys form.
func testPublicKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " me@laptop"
}

func TestSSHKeys(t *testing.T) {
	e := newEnv(t)
	admin := e.login(adminEmail, adminPassword).AccessToken
	e.createUser(admin, "ann@example.com", false)
	e.createUser(admin, "bob@example.com", false)
	ann := e.login("ann@example.com", "password-of-ann@example.com").AccessToken
	bob := e.login("bob@example.com", "password-of-bob@example.com").AccessToken

	pub := testPublicKey(t)
	var k api.SSHKey
	if st := e.call("POST", "/ssh-keys", ann, api.AddSSHKeyRequest{PublicKey: pub}, &k); st != 201 {
		t.Fatalf("add: %d", st)
	}
	if k.Name != "me@laptop" || k.Type != "ssh-ed25519" || !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.Owner != "ann@example.com" {
		t.Errorf("added key: %+v", k)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakPub, _ := ssh.NewPublicKey(&weak.PublicKey)
	for _, tt := range []struct {
		name, key, mention string
		status             int
	}{
		{"the same key for another user", pub, "already registered", 409},
		{"a private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "private key", 400},
		{"not a key", "hello", "not an SSH public key", 400},
		{"a weak RSA key", string(ssh.MarshalAuthorizedKey(weakPub)), "2048", 400},
	} {
		var er api.ErrorResponse
		if st := e.call("POST", "/ssh-keys", bob, api.AddSSHKeyRequest{PublicKey: tt.key}, &er); st != tt.status || !strings.Contains(er.Error.Message, tt.mention) {
			t.Errorf("%s: %d %q, want %d mentioning %q", tt.name, st, er.Error.Message, tt.status, tt.mention)
		}
	}
	var list []api.SSHKey
	if e.call("GET", "/ssh-keys", bob, nil, &list); len(list) != 0 {
		t.Errorf("bob sees keys: %+v", list)
	}
	if e.call("GET", "/ssh-keys", ann, nil, &list); len(list) != 1 || list[0].ID != k.ID {
		t.Errorf("ann's keys: %+v", list)
	}
	if st := e.call("DELETE", "/ssh-keys/"+k.ID, bob, nil, nil); st != 404 {
		t.Errorf("bob removing ann's key: %d, want 404", st)
	}
	if st := e.call("DELETE", "/ssh-keys/"+k.ID, ann, nil, nil); st != 204 {
		t.Errorf("ann removing her key: %d, want 204", st)
	}
}

func TestAppSSHSettings(t *testing.T) {
	e := newEnv(t)
	admin := e.login(adminEmail, adminPassword).AccessToken
	e.createUser(admin, "ann@example.com", false)
	e.createUser(admin, "bob@example.com", false)
	ann := e.login("ann@example.com", "password-of-ann@example.com").AccessToken
	bob := e.login("bob@example.com", "password-of-bob@example.com").AccessToken
	if st := e.call("POST", "/apps", ann, api.CreateAppRequest{Name: "web"}, nil); st != 201 {
		t.Fatalf("create app: %d", st)
	}
	var v api.AppSSH
	if st := e.call("GET", "/apps/web/ssh", ann, nil, &v); st != 200 || v.PushBranch != "main" || v.HasPassword || v.Command != "" {
		t.Fatalf("defaults: %d %+v", st, v)
	}
	if st := e.call("PATCH", "/apps/web/ssh", ann, api.UpdateAppSSHRequest{Password: "long enough password", PushBranch: "prod"}, &v); st != 200 || !v.HasPassword || v.PushBranch != "prod" {
		t.Fatalf("set: %d %+v", st, v)
	}
	for _, tt := range []struct {
		name    string
		token   string
		req     api.UpdateAppSSHRequest
		status  int
		mention string
	}{
		{"short password", ann, api.UpdateAppSSHRequest{Password: "short"}, 400, "too short"},
		{"bad branch", ann, api.UpdateAppSSHRequest{PushBranch: "a..b"}, 400, "branch"},
		{"nothing", ann, api.UpdateAppSSHRequest{}, 400, "nothing to change"},
		{"set and clear", ann, api.UpdateAppSSHRequest{Password: "long enough password", ClearPassword: true}, 400, "not both"},
		{"another user's app", bob, api.UpdateAppSSHRequest{ClearPassword: true}, 404, "not found"},
	} {
		var er api.ErrorResponse
		if st := e.call("PATCH", "/apps/web/ssh", tt.token, tt.req, &er); st != tt.status || !strings.Contains(er.Error.Message, tt.mention) {
			t.Errorf("%s: %d %q, want %d mentioning %q", tt.name, st, er.Error.Message, tt.status, tt.mention)
		}
	}
	if st := e.call("PATCH", "/apps/web/ssh", ann, api.UpdateAppSSHRequest{ClearPassword: true}, &v); st != 200 || v.HasPassword {
		t.Fatalf("clear: %d %+v", st, v)
	}
	var er api.ErrorResponse
	if st := e.call("POST", "/apps/web/exec", ann, nil, &er); st != 400 || !strings.Contains(er.Error.Message, "Upgrade") {
		t.Errorf("exec without an upgrade: %d %q", st, er.Error.Message)
	}
	if st := e.call("POST", "/apps/web/exec", bob, nil, &er); st != 400 && st != 404 {
		t.Errorf("exec by another user: %d", st)
	}
}
