package jointoken

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testCA = []byte("not really DER, but any bytes hash the same way")

func TestNewStringParseRoundTrip(t *testing.T) {
	tok, err := New(testCA)
	if err != nil {
		t.Fatal(err)
	}
	if tok.CAHash != sha256.Sum256(testCA) {
		t.Errorf("CAHash does not pin the CA certificate")
	}
	if len(tok.ID) != 8 || len(tok.Secret) != 32 {
		t.Errorf("ID %q / Secret %q have the wrong length", tok.ID, tok.Secret)
	}
	s := tok.String()
	if !strings.HasPrefix(s, "gsp1_") || strings.ContainsAny(s, " .:/+=") {
		t.Errorf("String() = %q: want a gsp1_ token with no characters that break copy-paste", s)
	}
	got, err := Parse(s + "\n")
	if err != nil {
		t.Fatalf("Parse(String()): %v", err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	other, _ := New(testCA)
	if other.ID == tok.ID || other.Secret == tok.Secret {
		t.Errorf("two tokens share an ID or secret: %v %v", tok, other)
	}
}

func TestSecretHash(t *testing.T) {
	tok := Token{Secret: "0123456789abcdef0123456789abcdef"}
	sum := sha256.Sum256([]byte(tok.Secret))
	if got, want := tok.SecretHash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SecretHash() = %s, want %s", got, want)
	}
}

func TestNewRejectsEmptyCA(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded; want an error")
	}
}

func TestParse(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	id := "0011aabb"
	secret := strings.Repeat("c3", 16)
	var wantHash [32]byte
	for i := range wantHash {
		wantHash[i] = 0xab
	}
	tests := []struct {
		name    string
		in      string
		want    Token
		wantErr string // substring; empty means success
	}{
		{name: "valid", in: "gsp1_" + hash + "_" + id + "_" + secret, want: Token{CAHash: wantHash, ID: id, Secret: secret}},
		{name: "upper case and spaces", in: "  GSP1_" + strings.ToUpper(hash) + "_" + strings.ToUpper(id) + "_" + strings.ToUpper(secret) + "\n", want: Token{CAHash: wantHash, ID: id, Secret: secret}},
		{name: "empty", in: "   ", wantErr: "join token is malformed: it is empty"},
		{name: "wrong prefix", in: "K10" + hash + "::" + id + ":" + secret, wantErr: `it should start with "gsp1_"`},
		{name: "future version", in: "gsp2_" + hash + "_" + id + "_" + secret, wantErr: "it is a version 2 token, this program reads version 1"},
		{name: "missing part", in: "gsp1_" + hash + "_" + id, wantErr: "want 4 parts separated by '_', got 3"},
		{name: "extra part", in: "gsp1_" + hash + "_" + id + "_" + secret + "_x", wantErr: "want 4 parts"},
		{name: "short hash", in: "gsp1_" + hash[:60] + "_" + id + "_" + secret, wantErr: "the CA hash has 60 characters, want 64"},
		{name: "non-hex hash", in: "gsp1_" + strings.Repeat("zz", 32) + "_" + id + "_" + secret, wantErr: "the CA hash is not hexadecimal"},
		{name: "short id", in: "gsp1_" + hash + "_abc_" + secret, wantErr: "the token id must be 8 hexadecimal characters"},
		{name: "non-hex id", in: "gsp1_" + hash + "_0011aabg_" + secret, wantErr: "the token id must be 8"},
		{name: "short secret", in: "gsp1_" + hash + "_" + id + "_" + secret[:31], wantErr: "the secret must be 32 hexadecimal characters"},
		{name: "non-hex secret", in: "gsp1_" + hash + "_" + id + "_" + strings.Repeat("x", 32), wantErr: "the secret must be 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse(%q) error = %q, want one wrapping ErrMalformed and containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := New(testCA)
	f.Add(tok.String())
	f.Add("gsp1_")
	f.Add("gsp9_a_b_c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrMalformed", s, err)
			}
			return
		}
		// Anything Parse accepts must print back to a string it reads the same way.
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Fatalf("Parse(%q) = %v, but Parse(String()) = %v, %v", s, got, again, err)
		}
	})
}
