package jointoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Prefix starts every token of the current format. Underscores, not dots,
// separate the parts so a double click in a terminal selects the whole token.
const Prefix = "gsp1_"

// formatVersion is the token format this package reads and writes.
const formatVersion = 1

const (
	idLen     = 8  // lowercase hex characters
	secretLen = 32 // lowercase hex characters (16 random bytes)
)

// ErrMalformed is wrapped by every error Parse returns for a string that is
// not a well-formed token.
var ErrMalformed = errors.New("join token is malformed")

// Token is a join token: it pins the master's tunnel CA by the SHA-256 of the
// CA certificate's DER bytes.
type Token struct {
	// CAHash is the SHA-256 of the master's tunnel CA certificate (DER).
	CAHash [32]byte
	// ID names the token on the master (8 lowercase hex characters).
	ID string
	// Secret proves possession of the token (32 lowercase hex characters).
	Secret string
}

// New makes a token for the CA whose certificate is caCertDER, with a random
// ID and secret.
func New(caCertDER []byte) (Token, error) {
	if len(caCertDER) == 0 {
		return Token{}, errors.New("making a join token: the CA certificate is empty")
	}
	id, err := randomHex(idLen / 2)
	if err != nil {
		return Token{}, fmt.Errorf("making a join token id: %w", err)
	}
	secret, err := randomHex(secretLen / 2)
	if err != nil {
		return Token{}, fmt.Errorf("making a join token secret: %w", err)
	}
	return Token{CAHash: CAHash(caCertDER), ID: id, Secret: secret}, nil
}

// CAHash returns the SHA-256 of a CA certificate's DER bytes, as pinned in
// tokens.
func CAHash(caCertDER []byte) [32]byte { return sha256.Sum256(caCertDER) }

// String returns the token in its printed form:
// "gsp1_" + hex(CAHash) + "_" + ID + "_" + Secret.
func (t Token) String() string {
	return Prefix + hex.EncodeToString(t.CAHash[:]) + "_" + t.ID + "_" + t.Secret
}

// SecretHash returns the hex SHA-256 of the secret, which is what the master
// stores instead of the secret itself.
func (t Token) SecretHash() string {
	sum := sha256.Sum256([]byte(t.Secret))
	return hex.EncodeToString(sum[:])
}

// Parse reads a token in the form String writes. Surrounding white space is
// ignored, so a token pasted with a trailing newline still works.
func Parse(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, fmt.Errorf("%w: it is empty", ErrMalformed)
	}
	if !strings.HasPrefix(strings.ToLower(s), Prefix) {
		if v, ok := otherVersion(s); ok {
			return Token{}, fmt.Errorf("%w: it is a version %d token, this program reads version %d: use a gasper-agent as new as the master", ErrMalformed, v, formatVersion)
		}
		return Token{}, fmt.Errorf("%w: it should start with %q (copy the whole output of `gasper node token`)", ErrMalformed, Prefix)
	}
	parts := strings.Split(s[len(Prefix):], "_")
	if len(parts) != 3 {
		return Token{}, fmt.Errorf("%w: want 4 parts separated by '_', got %d (was it cut while copying?)", ErrMalformed, len(parts)+1)
	}
	hashHex, id, secret := strings.ToLower(parts[0]), strings.ToLower(parts[1]), strings.ToLower(parts[2])
	if len(hashHex) != 2*sha256.Size {
		return Token{}, fmt.Errorf("%w: the CA hash has %d characters, want %d", ErrMalformed, len(hashHex), 2*sha256.Size)
	}
	var t Token
	if _, err := hex.Decode(t.CAHash[:], []byte(hashHex)); err != nil {
		return Token{}, fmt.Errorf("%w: the CA hash is not hexadecimal", ErrMalformed)
	}
	if len(id) != idLen || !isHex(id) {
		return Token{}, fmt.Errorf("%w: the token id must be %d hexadecimal characters", ErrMalformed, idLen)
	}
	if len(secret) != secretLen || !isHex(secret) {
		return Token{}, fmt.Errorf("%w: the secret must be %d hexadecimal characters", ErrMalformed, secretLen)
	}
	t.ID, t.Secret = id, secret
	return t, nil
}

// otherVersion reports whether s looks like a token of another format
// version ("gspN_..."), so Parse can say so instead of "malformed".
func otherVersion(s string) (int, bool) {
	head, _, ok := strings.Cut(strings.ToLower(s), "_")
	if !ok || !strings.HasPrefix(head, "gsp") {
		return 0, false
	}
	v, err := strconv.Atoi(head[len("gsp"):])
	if err != nil || v == formatVersion || v <= 0 {
		return 0, false
	}
	return v, true
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
