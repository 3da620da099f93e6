package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password is too short: use at least %d characters", MinPasswordLength)
	}
	if len(password) > 72 {
		// bcrypt ignores everything past 72 bytes; refuse rather than pretend.
		return "", errors.New("password is too long: use at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// dummyHash is compared against when a login names no known user, so that a
// failed login takes as long whether or not the email exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user, no such password"), bcrypt.DefaultCost)

// CheckPassword reports whether password matches hash. An empty hash (no such
// user) still costs one bcrypt comparison.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// Secret returns n random bytes, base64url-encoded without padding.
func Secret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the hex SHA-256 of a secret, the form it is stored in.
// Secrets are long random strings, so a fast hash is enough.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// SecretMatches compares a secret with a stored hash in constant time.
func SecretMatches(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(hash)) == 1
}

// Issuer is the "iss" claim of every access token.
const Issuer = "gasper"

// Claims are what an access token says.
type Claims struct {
	// SessionID names the login session; revoking it revokes the token.
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Signer signs and verifies access tokens with one HMAC key.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for key (at least 32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("signing key must be at least 32 bytes")
	}
	return &Signer{key: key}, nil
}

// LoadOrCreateKey reads the signing key at path, creating a random one (mode
// 0600) on first use.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < 32 {
			return nil, fmt.Errorf("signing key %s is too short (%d bytes): delete it to make a new one (every user must then log in again)", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	return key, nil
}

// Sign issues an access token for a user's session, valid for ttl.
func (s *Signer) Sign(userID, sessionID string, ttl time.Duration) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(ttl)
	c := Claims{
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	return tok, exp, err
}

// Verify checks an access token's signature, algorithm, issuer and expiry.
// Anything but HS256 with this key (alg "none" among them) is refused.
func (s *Signer) Verify(token string) (*Claims, error) {
	var c Claims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	_, err := parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil })
	if err != nil {
		return nil, fmt.Errorf("invalid access token: %w", err)
	}
	if c.Issuer != Issuer || c.Subject == "" || c.SessionID == "" || c.ExpiresAt == nil {
		return nil, errors.New("invalid access token: missing claims")
	}
	return &c, nil
}
