package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"gasper/api"
	"gasper/api/client"
)

// Exit codes, documented in the root's help and docs/cli.md.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitAuth        = 3
	exitForbidden   = 4
	exitNotFound    = 5
	exitUnreachable = 6
)

// Annotations a command sets so explain can give a precise hint.
const (
	// annotAdmin marks commands only admins may run.
	annotAdmin = "gasper/admin"
	// annotList names the command that lists what a command takes as
	// argument, offered when that argument is not found.
	annotList = "gasper/list"
)

// cliError is an error with a hint for the user and, optionally, its exit
// code (0 lets explain derive one).
type cliError struct {
	err  error
	hint string
	code int
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// withHint attaches hint to err.
func withHint(err error, hint string) error {
	return &cliError{err: err, hint: hint}
}

// usageErrorf returns a usage error (exit code 2).
func usageErrorf(format string, args ...any) *cliError {
	return &cliError{err: fmt.Errorf(format, args...), code: exitUsage}
}

// explain turns the error cmd returned into the one-line message, the hint
// and the exit code the user gets.
func explain(g *globalOptions, cmd *cobra.Command, err error) (msg, hint string, code int) {
	msg, code = err.Error(), exitError
	var ce *cliError
	if errors.As(err, &ce) {
		hint = ce.hint
		if ce.code != 0 {
			code = ce.code
		}
	}
	if code == exitUsage && hint == "" && cmd != nil {
		hint = "see: " + cmd.CommandPath() + " --help"
	}
	if code != exitError {
		return msg, hint, code
	}

	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		if hint == "" {
			hint = "check --master (or " + envMaster + ") and that gasper-master is running there"
		}
		return msg, hint, exitUnreachable
	}

	var ae *api.Error
	if !errors.As(err, &ae) {
		return msg, hint, code
	}
	isLogin := cmd != nil && cmd.Name() == "login"
	switch {
	case errors.Is(ae, api.ErrUnauthorized) && isLogin:
		return "login failed: " + ae.Message, or(hint, "check the email and password"), exitAuth
	case errors.Is(ae, api.ErrUnauthorized) && g.tokenFromUser:
		return "the master rejected the API token: " + ae.Message,
			or(hint, "check --token or "+envToken+", or unset them and run: gasper login"), exitAuth
	case errors.Is(ae, api.ErrUnauthorized):
		return "your session has expired or was revoked", or(hint, "run: gasper login"), exitAuth
	case errors.Is(ae, api.ErrForbidden):
		if hint == "" && cmd != nil && cmd.Annotations[annotAdmin] != "" {
			hint = "this needs an admin account; an admin can grant it with: gasper user grant-admin EMAIL"
		}
		return "permission denied: " + ae.Message, hint, exitForbidden
	case errors.Is(ae, api.ErrNotFound):
		if hint == "" && cmd != nil && cmd.Annotations[annotList] != "" {
			hint = "see what exists with: " + cmd.Annotations[annotList]
		}
		return "not found: " + ae.Message, hint, exitNotFound
	}
	return msg, hint, code
}

// or returns a unless it is empty, else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
