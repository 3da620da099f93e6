package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

func TestSignVerify(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	good, _, err := s.Sign("u-1", "s-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, _ := s.Sign("u-1", "s-1", -time.Minute)
	forged, _, _ := other.Sign("u-1", "s-1", time.Minute)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{SessionID: "s-1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: "u-1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, Claims{SessionID: "s-1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: "u-1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}}).SignedString(key)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{SessionID: "s-1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: "u-1",
	}}).SignedString(key)

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", good, true},
		{"expired", expired, false},
		{"signed with another key", forged, false},
		{"alg none", none, false},
		{"other algorithm", hs512, false},
		{"no expiry", noExp, false},
		{"garbage", "not.a.jwt", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(tt.token)
			if tt.ok != (err == nil) {
				t.Fatalf("Verify: err = %v, want ok = %v", err, tt.ok)
			}
			if tt.ok && (c.Subject != "u-1" || c.SessionID != "s-1") {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "correct horse") || CheckPassword(h, "wrong horse") || CheckPassword("", "correct horse") {
		t.Fatal("password check is wrong")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("short password accepted")
	}
}

func TestSecrets(t *testing.T) {
	a, b := Secret(24), Secret(24)
	if a == b || len(a) != 32 {
		t.Fatalf("secrets %q %q", a, b)
	}
	if !SecretMatches(a, HashSecret(a)) || SecretMatches(b, HashSecret(a)) {
		t.Fatal("secret match is wrong")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	p := t.TempDir() + "/jwt.key"
	k1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("key not kept: %v", err)
	}
}
