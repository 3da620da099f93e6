package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"gasper/api"
)

// APITokenPrefix starts every long-lived API token; anything else sent as a
// bearer token is a JWT access token from a session.
const APITokenPrefix = "gsp_"

// maxErrorBody bounds how much of a non-JSON error body is quoted in a message.
const maxErrorBody = 200

// Client calls one master's REST API. It is safe for concurrent use.
type Client struct {
	baseURL   string
	http      *http.Client
	userAgent string
	now       func() time.Time

	// mu guards the credentials below, which a refresh replaces.
	mu        sync.Mutex
	token     string
	session   *api.Session
	onRefresh func(api.Session) error
	// refreshDead is set once the master refused the refresh token, so a
	// request does not spend a second round trip learning it again.
	refreshDead bool
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc instead of
// http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithToken makes the client authenticate with token, an API token ("gsp_...")
// or a JWT access token. It is never refreshed.
func WithToken(token string) Option {
	return func(c *Client) {
		c.token = token
		c.session = nil
	}
}

// WithSession makes the client authenticate with the session's access token.
// When the master rejects it (401) or it has expired, the client spends the
// refresh token once for a new pair, calls onRefresh with it (so the caller
// can persist it; onRefresh may be nil) and retries the request once.
func WithSession(s api.Session, onRefresh func(api.Session) error) Option {
	return func(c *Client) {
		c.session = &s
		c.token = s.AccessToken
		c.onRefresh = onRefresh
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithClock replaces time.Now when judging whether the access token has
// expired; tests use it.
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// New returns a client of the master at baseURL ("http://127.0.0.1:7080").
// A URL without a scheme is taken as http.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		baseURL:   NormalizeURL(baseURL),
		http:      http.DefaultClient,
		userAgent: "gasper-client",
		now:       time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NormalizeURL returns the master URL u in the form the client uses: with a
// scheme (http when none is given) and without a trailing slash, so two
// spellings of one master compare equal.
func NormalizeURL(u string) string {
	u = strings.TrimSpace(u)
	if u != "" && !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return strings.TrimRight(u, "/")
}

// BaseURL is the master URL the client talks to.
func (c *Client) BaseURL() string { return c.baseURL }

// Session returns a copy of the client's current session, which a refresh may
// have replaced since WithSession or Login, and false when it has none.
func (c *Client) Session() (api.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return api.Session{}, false
	}
	return *c.session, true
}

// UnreachableError is returned when the master could not be reached at all:
// connection refused, unknown host, timeout, TLS failure.
type UnreachableError struct {
	// URL is the master URL that was tried.
	URL string
	// Err is the transport's error.
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the master at %s: %v", e.URL, e.Err)
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// do sends one request and decodes a 2xx JSON answer into out (unless out is
// nil). With auth it authenticates, and on a 401 with a session it refreshes
// once and retries once.
func (c *Client) do(ctx context.Context, method, path string, in, out any, auth bool) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request of %s %s: %w", method, path, err)
		}
	}
	if !auth {
		return c.send(ctx, method, path, "", body, out)
	}

	token, err := c.currentToken(ctx)
	if err != nil {
		return err
	}
	err = c.send(ctx, method, path, token, body, out)
	if !errors.Is(err, api.ErrUnauthorized) || !c.refreshable(token) {
		return err
	}
	next, rerr := c.refresh(ctx, token)
	if rerr != nil {
		// The caller learns why the request failed, not why the refresh did:
		// both mean "log in again" unless the master went away meanwhile.
		var ue *UnreachableError
		if errors.As(rerr, &ue) {
			return rerr
		}
		return err
	}
	return c.send(ctx, method, path, next, body, out)
}

// currentToken returns the bearer token to send, refreshing first when the
// session's access token has visibly expired (saving a doomed round trip).
func (c *Client) currentToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	token, s := c.token, c.session
	c.mu.Unlock()
	if s == nil || s.AccessExpiresAt.IsZero() || c.now().Before(s.AccessExpiresAt) || s.RefreshToken == "" {
		return token, nil
	}
	next, err := c.refresh(ctx, token)
	if err != nil {
		var ue *UnreachableError
		if errors.As(err, &ue) {
			return "", err
		}
		// Our clock may be wrong: let the master judge the old token.
		c.mu.Lock()
		c.refreshDead = true
		c.mu.Unlock()
		return token, nil
	}
	return next, nil
}

// refreshable reports whether a 401 for token is worth a refresh.
func (c *Client) refreshable(token string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session != nil && c.session.RefreshToken != "" && !c.refreshDead && !strings.HasPrefix(token, APITokenPrefix)
}

// refresh trades the session's refresh token for a new pair, unless another
// call already did so since stale was sent: refresh tokens are single-use, so
// two requests failing together must not both spend it.
func (c *Client) refresh(ctx context.Context, stale string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return "", api.Errorf(api.CodeUnauthorized, "no session to refresh")
	}
	if c.token != stale {
		return c.token, nil
	}
	var s api.Session
	req := api.RefreshRequest{RefreshToken: c.session.RefreshToken}
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("encode refresh request: %w", err)
	}
	if err := c.send(ctx, http.MethodPost, "/auth/refresh", "", body, &s); err != nil {
		return "", err
	}
	c.session, c.token, c.refreshDead = &s, s.AccessToken, false
	if c.onRefresh != nil {
		if err := c.onRefresh(s); err != nil {
			return "", fmt.Errorf("save refreshed session: %w", err)
		}
	}
	return s.AccessToken, nil
}

// send performs one HTTP exchange; path is relative to api.Prefix.
func (c *Client) send(ctx context.Context, method, path, token string, body []byte, out any) error {
	var rd io.Reader
	contentType := ""
	if body != nil {
		rd, contentType = bytes.NewReader(body), "application/json"
	}
	resp, err := c.roundTrip(ctx, method, path, token, rd, contentType, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// roundTrip sends one request with body (of contentType, unless body is nil)
// and returns the response when it is a 2xx, for the caller to read and
// close; any other answer becomes the error. Nothing here bounds how long
// the body may take to read: ctx does.
func (c *Client) roundTrip(ctx context.Context, method, path, token string, body io.Reader, contentType, accept string) (*http.Response, error) {
	var rc io.Reader
	length := int64(-1)
	if body != nil {
		// The transport closes a body that is an io.Closer; the caller's
		// file must stay open for a retry, so it gets only a reader.
		rc = io.NopCloser(body)
		if s, ok := body.(io.Seeker); ok {
			// A known length is sent as Content-Length rather than chunked,
			// so a master (or proxy) can refuse an oversized body up front.
			if n, err := remaining(s); err == nil {
				length = n
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+api.Prefix+path, rc)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
		switch {
		case length == 0:
			req.Body = http.NoBody
		case length > 0:
			req.ContentLength = length
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, &UnreachableError{URL: c.baseURL, Err: unwrapURLError(err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeError(method, path, resp)
	}
	return resp, nil
}

// remaining returns how many bytes s holds from its current offset on,
// leaving the offset where it was.
func remaining(s io.Seeker) (int64, error) {
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

// doStream is do for bodies and answers that are not JSON values: it sends
// body (nil for none) as contentType and returns the 2xx response for the
// caller to read and close. A 401 with a session is refreshed and retried
// once only when body can be rewound (nil, or an io.Seeker), since a
// consumed stream cannot be sent again.
func (c *Client) doStream(ctx context.Context, method, path string, body io.Reader, contentType, accept string) (*http.Response, error) {
	start := int64(-1)
	if s, ok := body.(io.Seeker); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			start = off
		}
	}
	token, err := c.currentToken(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, method, path, token, body, contentType, accept)
	if !errors.Is(err, api.ErrUnauthorized) || !c.refreshable(token) || (body != nil && start < 0) {
		return resp, err
	}
	next, rerr := c.refresh(ctx, token)
	if rerr != nil {
		var ue *UnreachableError
		if errors.As(rerr, &ue) {
			return nil, rerr
		}
		return nil, err
	}
	if body != nil {
		if _, serr := body.(io.Seeker).Seek(start, io.SeekStart); serr != nil {
			return nil, err
		}
	}
	return c.roundTrip(ctx, method, path, next, body, contentType, accept)
}

// unwrapURLError drops the *url.Error layer, whose message repeats the whole
// URL that UnreachableError already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// decodeError turns a non-2xx answer into an *api.Error: the master's own
// body when it sent one, or one made from the status when something else
// (a proxy) answered.
func decodeError(method, path string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var er api.ErrorResponse
	if err := json.Unmarshal(raw, &er); err == nil && er.Error.Code != "" {
		e := er.Error
		return &e
	}
	snippet := strings.TrimSpace(string(raw))
	if len(snippet) > maxErrorBody {
		snippet = snippet[:maxErrorBody] + "..."
	}
	msg := fmt.Sprintf("%s %s: HTTP %s", method, api.Prefix+path, resp.Status)
	if snippet != "" {
		msg += ": " + snippet
	}
	return &api.Error{Code: api.CodeForStatus(resp.StatusCode), Message: msg}
}

// decodeJSON decodes a response body into out.
func decodeJSON(resp *http.Response, out any) error {
	return json.NewDecoder(resp.Body).Decode(out)
}
