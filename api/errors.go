package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes carried in ErrorBody.Code. They are part of the API contract:
// clients branch on them (through errors.Is with the sentinels below), never on
// the message text.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeTooLarge     = "too_large"
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
)

// Sentinel errors. An *Error matches the sentinel of its code with errors.Is.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrTooLarge     = errors.New("request too large")
	ErrUnavailable  = errors.New("unavailable")
	ErrInternal     = errors.New("internal error")
)

var codes = []struct {
	code     string
	status   int
	sentinel error
}{
	{CodeBadRequest, http.StatusBadRequest, ErrBadRequest},
	{CodeUnauthorized, http.StatusUnauthorized, ErrUnauthorized},
	{CodeForbidden, http.StatusForbidden, ErrForbidden},
	{CodeNotFound, http.StatusNotFound, ErrNotFound},
	{CodeConflict, http.StatusConflict, ErrConflict},
	{CodeTooLarge, http.StatusRequestEntityTooLarge, ErrTooLarge},
	{CodeUnavailable, http.StatusServiceUnavailable, ErrUnavailable},
	{CodeInternal, http.StatusInternalServerError, ErrInternal},
}

// Error is the error every API call returns on failure. On the wire it is
// {"error": {"code": "...", "message": "..."}} (see ErrorResponse).
type Error struct {
	// Code is one of the Code* constants.
	Code string `json:"code"`
	// Message says what went wrong, for a person.
	Message string `json:"message"`
}

// ErrorResponse is the JSON body of every non-2xx response.
type ErrorResponse struct {
	Error Error `json:"error"`
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the sentinel error of e's code.
func (e *Error) Is(target error) bool {
	for _, c := range codes {
		if c.code == e.Code {
			return target == c.sentinel
		}
	}
	return false
}

// Status is the HTTP status that carries e.
func (e *Error) Status() int {
	for _, c := range codes {
		if c.code == e.Code {
			return c.status
		}
	}
	return http.StatusInternalServerError
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeForStatus maps an HTTP status to an error code, for responses that did
// not carry a JSON error body (a proxy in between, say).
func CodeForStatus(status int) string {
	for _, c := range codes {
		if c.status == status {
			return c.code
		}
	}
	if status >= 500 {
		return CodeInternal
	}
	return CodeBadRequest
}

// AsError converts err to an *Error: an *Error (possibly wrapped) is returned
// as is, a sentinel becomes its code, anything else is internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, c := range codes {
		if errors.Is(err, c.sentinel) {
			return &Error{Code: c.code, Message: err.Error()}
		}
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}
