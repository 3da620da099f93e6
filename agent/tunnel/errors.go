package tunnel

import (
	"errors"
	"fmt"

	"gasper/proto"
)

// ErrCAMismatch is wrapped by the error Run returns when the master's CA is
// not the one pinned by the join token or the node's identity.
var ErrCAMismatch = errors.New("CA fingerprint mismatch")

// ErrNoIdentity is wrapped by the error Run returns when the node has not
// joined and was given no join token.
var ErrNoIdentity = errors.New("no node identity and no join token")

// RefusedError is returned by Run when the master refused the node for a
// reason retrying cannot fix. It wraps the master's *proto.Error, so callers
// can branch on its Code with errors.As.
type RefusedError struct {
	// Master is the address that refused.
	Master string
	// IdentityPath is the node's identity file, named in the advice.
	IdentityPath string
	// Err is the master's answer.
	Err *proto.Error
}

// Error says what happened and what to do about it.
func (e *RefusedError) Error() string {
	reason := e.Err.Message
	switch e.Err.Code {
	case proto.ErrTokenInvalid:
		return fmt.Sprintf("the master at %s rejected the join token (%s): check the --token, or ask an admin for a new one: gasper node token", e.Master, reason)
	case proto.ErrTokenExpired:
		return fmt.Sprintf("the join token has expired (%s): ask an admin for a new one: gasper node token", reason)
	case proto.ErrNodeUnknown:
		return fmt.Sprintf("the master at %s rejected this node's credential (%s): this node was removed from the cluster; delete %s and join again with a new token", e.Master, reason, e.IdentityPath)
	case proto.ErrVersion:
		return fmt.Sprintf("the master at %s does not serve this agent's protocol version: %s", e.Master, reason)
	case proto.ErrBadHello:
		return fmt.Sprintf("the master at %s could not read this agent's hello (%s): run the same gasper-agent version as the master", e.Master, reason)
	default:
		return fmt.Sprintf("the master at %s refused this node (%s: %s)", e.Master, e.Err.Code, reason)
	}
}

// Unwrap returns the master's *proto.Error.
func (e *RefusedError) Unwrap() error { return e.Err }

// fatalError marks an error that ends Run instead of causing a reconnect.
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

func fatal(err error) error { return fatalError{err: err} }
