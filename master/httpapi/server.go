package httpapi

import (
	"context"
	"encoding/json"
	"errors"

	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"gasper/api"
	"gasper/master/apps"
	"gasper/master/auth"
	"gasper/master/dbs"
	"gasper/master/nodes"
	"gasper/master/remote"
	"gasper/master/secrets"
	"gasper/master/store"
)

// Tunnel is what the API needs of the tunnel server: closing a removed
// node's connection.
type Tunnel interface {
	Disconnect(nodeID string)
}

// Config configures the API server.
type Config struct {
	// Store is the master's database.
	Store *store.Store
	// Signer signs and verifies access tokens.
	Signer *auth.Signer
	// Nodes is the node registry.
	Nodes *nodes.Registry
	// Apps is the application service.
	Apps *apps.Service
	// DBs is the database service.
	DBs *dbs.Service
	// Tunnel closes removed nodes' tunnels; nil is allowed in tests.
	Tunnel Tunnel
	// Remote serves SSH keys, apps' SSH settings and exec streams.
	Remote *remote.Service
	// Box seals uploaded certificates' keys.
	Box *secrets.Box
	// CloudCA is the PEM certificate of the CA that signs apps' HTTPS
	// certificates, served at /ca for clients to trust.
	CloudCA []byte
	// TunnelAddr is the address agents dial, shown with new join tokens.
	TunnelAddr string
	// AccessTTL is the lifetime of an access token (JWT).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a login session's refresh token.
	RefreshTTL time.Duration
	// JoinTokenTTL is the default lifetime of a join token.
	JoinTokenTTL time.Duration
	// Version is the master's version, reported by /health.
	Version string
	// Logger receives access logs and internal errors.
	Logger *slog.Logger
}

// Server serves the REST API.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	touchMu sync.Mutex
	touched map[string]time.Time // API token id -> last time written
}

// maxBody bounds request bodies; no API request is anywhere near it.
const maxBody = 1 << 20

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "api"), mux: http.NewServeMux(), touched: map[string]time.Time{}}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Method+" "+api.Prefix+rt.Path, s.wrap(rt))
	}
	s.mux.HandleFunc(api.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, s.log, api.Errorf(api.CodeNotFound, "no API route %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// access is who may call a route.
type access int

const (
	public access = iota // anyone
	user                 // any authenticated user
	admin                // admins only
)

// route is one API route: the single place a route is declared.
type route struct {
	Method  string
	Path    string // under api.Prefix, with {param}s
	Access  access
	Summary string
	Request any // zero value of the request body type, or nil
	// Response is the zero value of the response body type, or nil for 204.
	Response any
	Status   int // success status
	// Query lists the query parameters, for the document.
	Query  []string
	Handle func(*http.Request, *caller) (any, error)
	// Stream, instead of Handle, writes a text/plain body as it goes.
	Stream func(http.ResponseWriter, *http.Request, *caller) error
	// RawBody names the content type of a non-JSON request body (read by
	// the handler itself), and MaxBody bounds it (default maxBody).
	RawBody string
	MaxBody int64
}

// caller is who is making a request.
type caller struct {
	User      store.User
	SessionID string // set when authenticated by an access token
	TokenID   string // set when authenticated by an API token
}

// actor names the caller in the audit log.
func (c *caller) actor() string {
	if c == nil {
		return "anonymous"
	}
	return c.User.Email
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		limit := int64(maxBody)
		if rt.MaxBody > 0 {
			limit = rt.MaxBody
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		var c *caller
		var err error
		if rt.Access != public {
			c, err = s.authenticate(r)
			if err == nil && rt.Access == admin && !c.User.Admin {
				err = api.Errorf(api.CodeForbidden, "%s %s needs admin rights", rt.Method, api.Prefix+rt.Path)
			}
		}
		if err == nil && rt.Stream != nil {
			sw := &streamWriter{ResponseWriter: w}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			err = rt.Stream(sw, r, c)
			if err != nil && !sw.wrote {
				writeError(w, s.log, err)
			} else if err != nil {
				s.log.Warn("stream ended with an error", "path", r.URL.Path, "err", err)
			}
			return
		}
		var resp any
		if err == nil {
			resp, err = rt.Handle(r, c)
		}
		status := rt.Status
		if err != nil {
			status = writeError(w, s.log, err)
		} else if resp == nil {
			w.WriteHeader(status)
		} else {
			writeJSON(w, status, resp)
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", status,
			"duration", time.Since(start), "user", c.actor())
	})
}

// streamWriter notes whether a streaming handler has written anything, so
// an error before the first byte can still be a proper error response.
type streamWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection, for the
// routes that upgrade it.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *streamWriter) Flush() {
	w.wrote = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError maps err to its HTTP status and JSON body: the one place that
// does. Internal errors are logged and answered with a generic message.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) int {
	e := api.AsError(err)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		e = api.Errorf(api.CodeTooLarge, "request body is larger than %d bytes", maxErr.Limit)
	}
	if e.Code == api.CodeInternal {
		log.Error("internal error", "err", err)
	}
	if e.Code == api.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gasper"`)
	}
	writeJSON(w, e.Status(), api.ErrorResponse{Error: *e})
	return e.Status()
}

// decode reads a JSON request body into v, refusing unknown fields and
// trailing data so that a typo in a field name is an error, not a no-op.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return api.Errorf(api.CodeBadRequest, "request body is empty: expected a JSON object")
		}
		return api.Errorf(api.CodeBadRequest, "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return api.Errorf(api.CodeBadRequest, "invalid JSON body: unexpected data after the object")
	}
	return nil
}

func (s *Server) audit(ctx context.Context, c *caller, action, target, detail string) {
	if err := s.cfg.Store.Audit(ctx, c.actor(), action, target, detail); err != nil {
		s.log.Error("write audit event", "action", action, "err", err)
	}
}

func parseTTL(v string, def, max time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, api.Errorf(api.CodeBadRequest, "ttl %q is not a duration: use a number with a unit, like 30m, 24h or 720h", v)
	}
	if d <= 0 || d > max {
		return 0, api.Errorf(api.CodeBadRequest, "ttl %s is out of range: it must be positive and at most %s", v, max)
	}
	return d, nil
}

func errorf(code, format string, args ...any) error { return api.Errorf(code, format, args...) }
