package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"gasper/internal/jointoken"
	"gasper/proto"
)

// TunnelServerName is the name the master's tunnel certificate is checked
// against. It is master/pki.TunnelServerName, copied because the agent does
// not import the master.
const TunnelServerName = "master.gasper.internal"

// Config configures a Client.
type Config struct {
	// Master is the host:port of the master's tunnel.
	Master string
	// JoinToken is used only when StateDir holds no identity yet.
	JoinToken string
	// StateDir holds the node identity (identity.json).
	StateDir string
	// Facts returns the machine's facts, sent on every connection. If the
	// Advertise fact is empty, the local address of the tunnel connection is
	// used. Nil sends empty facts.
	Facts func() proto.Facts
	// Usage returns current resource use, sent with every heartbeat. Nil
	// sends zeros.
	Usage func() proto.Usage
	// Handler serves the master's calls other than proto.PathPing and
	// proto.PathFacts, which the client answers itself. Nil answers 404.
	Handler http.Handler
	// OnConnect, if set, is called when a session is up.
	OnConnect func(nodeID string)
	// OnDisconnect, if set, is called when a session ends, with the reason.
	OnDisconnect func(err error)
	// OnHeartbeat, if set, is called after every acknowledged heartbeat with
	// its round-trip time.
	OnHeartbeat func(rtt time.Duration, ack proto.HeartbeatAck)
	// BackoffMin and BackoffMax bound the delay between connection attempts
	// (exponential with full jitter); defaults 200ms and 2s. The maximum is
	// also how long a node takes, at worst, to notice that the master (or its
	// link) is back.
	BackoffMin, BackoffMax time.Duration
	// DialTimeout bounds the TCP connect plus TLS and Hello/Welcome; default
	// 10s.
	DialTimeout time.Duration
	// KeepAliveInterval is the yamux keepalive period; default 5s.
	KeepAliveInterval time.Duration
	// ProtoVersion overrides the protocol version sent in Hello; zero means
	// proto.Version. Tests use it to play an older or newer agent.
	ProtoVersion int
	// Logger receives the client's logs; default slog.Default().
	Logger *slog.Logger
}

// Client is the agent's end of the tunnel. Create it with NewClient and start
// it with Run.
type Client struct {
	cfg  Config
	log  *slog.Logger
	tr   *http.Transport
	http *http.Client

	mu     sync.Mutex
	sess   *yamux.Session
	nodeID string
	facts  proto.Facts
}

var errNotConnected = errors.New("not connected to the master")

// connectTimeout bounds the TCP connect to the master.
const connectTimeout = 3 * time.Second

// NewClient checks cfg, fills in defaults and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Master == "" {
		return nil, errors.New("the master address is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Master); err != nil {
		return nil, fmt.Errorf("the master address %q is not host:port: %w", cfg.Master, err)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("the state directory is required")
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 200 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 2 * time.Second
	}
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = 5 * time.Second
	}
	if cfg.ProtoVersion == 0 {
		cfg.ProtoVersion = proto.Version
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "tunnel", "master", cfg.Master)}
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c.mu.Lock()
			sess := c.sess
			c.mu.Unlock()
			if sess == nil {
				return nil, errNotConnected
			}
			return sess.Open()
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	c.http = &http.Client{Transport: c.tr}
	return c, nil
}

// HTTPClient returns a client whose requests go to the master over the
// current session (the URL's host is ignored; use "http://master"). Requests
// made while disconnected fail at once.
func (c *Client) HTTPClient() *http.Client { return c.http }

// NodeID returns the node's id once known (after joining, or from the saved
// identity), else "".
func (c *Client) NodeID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeID
}

// Connected reports whether a session is up.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// Run connects to the master and keeps the tunnel up until ctx ends (it then
// returns nil) or the master refuses the node for good (it returns an error
// saying why and what to do). Network failures only cause reconnects.
func (c *Client) Run(ctx context.Context) error {
	id, joined, err := LoadIdentity(c.cfg.StateDir)
	if err != nil {
		return err
	}
	if joined {
		c.mu.Lock()
		c.nodeID = id.NodeID
		c.mu.Unlock()
		if id.Master != "" && id.Master != c.cfg.Master {
			c.log.Info("connecting to a different master address than the one this node joined through", "joined_through", id.Master)
		}
	} else {
		if c.cfg.JoinToken == "" {
			return fmt.Errorf("%w: this node has not joined yet (no %s); pass --token (or GASPER_JOIN_TOKEN) with a token from `gasper node token`", ErrNoIdentity, IdentityPath(c.cfg.StateDir))
		}
		if _, err := jointoken.Parse(c.cfg.JoinToken); err != nil {
			return err
		}
	}

	var (
		attempt   int
		failures  int
		lastWarn  time.Time
		firstFail time.Time
	)
	for {
		up, err := c.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fe fatalError
		if errors.As(err, &fe) {
			return fe.err
		}
		if up {
			// The session was established, so the next attempt starts the
			// backoff afresh.
			attempt, failures = 0, 0
			c.log.Warn("tunnel session ended; reconnecting", "err", err)
		} else {
			failures++
			if failures == 1 {
				firstFail = time.Now()
			}
			// Log the first failure, then at most every 30s, so a master that is
			// down for an hour does not flood the log.
			if failures == 1 || time.Since(lastWarn) >= 30*time.Second {
				c.log.Warn("cannot reach the master; retrying", "err", err, "attempts", failures, "failing_for", time.Since(firstFail).Round(time.Second))
				lastWarn = time.Now()
			} else {
				c.log.Debug("cannot reach the master; retrying", "err", err, "attempts", failures)
			}
		}
		delay := backoff(c.cfg.BackoffMin, c.cfg.BackoffMax, attempt)
		attempt++
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// backoff returns a delay drawn uniformly from [0, min(max, min*2^attempt)]
// ("full jitter"), so many agents that lost the master at once do not come
// back in lockstep.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	ceiling := hi
	if attempt < 30 {
		ceiling = min(hi, lo<<attempt)
	}
	return rand.N(ceiling + 1)
}

// connectOnce makes one connection and runs its session until it ends. up
// reports whether the handshake succeeded. Errors wrapped by fatal end Run.
func (c *Client) connectOnce(ctx context.Context) (up bool, err error) {
	id, joined, err := LoadIdentity(c.cfg.StateDir)
	if err != nil {
		return false, fatal(err)
	}
	conn, rd, caPEM, err := c.dial(ctx, id, joined)
	if err != nil {
		return false, err
	}
	defer conn.Close()

	facts := proto.Facts{}
	if c.cfg.Facts != nil {
		facts = c.cfg.Facts()
	}
	if facts.Advertise == "" {
		if ta, ok := conn.LocalAddr().(*net.TCPAddr); ok {
			facts.Advertise = ta.IP.String()
		}
	}
	hello := proto.Hello{ProtoVersion: c.cfg.ProtoVersion, Facts: facts}
	if joined {
		hello.NodeID, hello.Credential = id.NodeID, id.Credential
	} else {
		hello.JoinToken = c.cfg.JoinToken
	}
	welcome, err := c.exchange(ctx, conn, rd, hello)
	if err != nil {
		return false, err
	}
	if !joined {
		if welcome.NodeID == "" || welcome.Credential == "" {
			return false, fatal(fmt.Errorf("the master at %s accepted the join token but sent no node id or credential", c.cfg.Master))
		}
		id = Identity{NodeID: welcome.NodeID, Credential: welcome.Credential, Master: c.cfg.Master, CACertPEM: string(caPEM), JoinedAt: time.Now().UTC()}
		if err := SaveIdentity(c.cfg.StateDir, id); err != nil {
			return false, fatal(fmt.Errorf("joined the cluster as node %s but could not keep its identity (the join token may now be used up): %w", id.NodeID, err))
		}
		c.log.Info("joined the cluster", "node", id.NodeID, "identity", IdentityPath(c.cfg.StateDir))
	}
	return true, c.runSession(ctx, conn, rd, id.NodeID, facts, welcome.HeartbeatInterval)
}

// dial opens the TLS connection, pinning the master's CA. It returns the CA
// certificate (PEM) the connection was verified against.
func (c *Client) dial(ctx context.Context, id Identity, joined bool) (*tls.Conn, *bufio.Reader, []byte, error) {
	var verify func([]*x509.Certificate) (*x509.Certificate, error)
	if joined {
		block, _ := pem.Decode([]byte(id.CACertPEM))
		if block == nil {
			return nil, nil, nil, fatal(fmt.Errorf("the node identity %s holds no valid CA certificate: delete it and join again with a new token", IdentityPath(c.cfg.StateDir)))
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, nil, fatal(fmt.Errorf("the CA certificate in %s is unreadable (%v): delete it and join again with a new token", IdentityPath(c.cfg.StateDir), err))
		}
		verify = func(chain []*x509.Certificate) (*x509.Certificate, error) {
			if err := verifyLeaf(chain, ca); err != nil {
				var ua x509.UnknownAuthorityError
				if errors.As(err, &ua) {
					return nil, fmt.Errorf("the master at %s presents a different CA than the one this node joined with (%w): if the master was reinstalled, delete %s and join again with a new token", c.cfg.Master, ErrCAMismatch, IdentityPath(c.cfg.StateDir))
				}
				return nil, err
			}
			return ca, nil
		}
	} else {
		tok, err := jointoken.Parse(c.cfg.JoinToken)
		if err != nil {
			return nil, nil, nil, fatal(err)
		}
		verify = func(chain []*x509.Certificate) (*x509.Certificate, error) {
			for _, cert := range chain {
				if sha256.Sum256(cert.Raw) == tok.CAHash {
					return cert, verifyLeaf(chain, cert)
				}
			}
			return nil, fmt.Errorf("the master at %s is not the one this join token was made for (%w): check the --token and master address", c.cfg.Master, ErrCAMismatch)
		}
	}

	var caCert *x509.Certificate
	tcfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: TunnelServerName,
		// Verification is done by VerifyConnection against the pinned CA
		// only; the system roots must never vouch for a master.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			ca, err := verify(cs.PeerCertificates)
			if err != nil {
				return err
			}
			caCert = ca
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	// The TCP connect gets less than the whole dial: a SYN sent while the
	// link was down is retried by the kernel only after 1, 2, 4... s, so a
	// healed link is noticed sooner by a fresh attempt.
	d := net.Dialer{KeepAlive: 15 * time.Second, Timeout: connectTimeout}
	raw, err := d.DialContext(ctx, "tcp", c.cfg.Master)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dialing the master: %w", err)
	}
	conn := tls.Client(raw, tcfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		if errors.Is(err, ErrCAMismatch) {
			return nil, nil, nil, fatal(err)
		}
		return nil, nil, nil, fmt.Errorf("TLS handshake with the master: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	return conn, bufio.NewReaderSize(conn, 4096), caPEM, nil
}

// verifyLeaf checks that the first certificate of chain is a server
// certificate for TunnelServerName issued (through the rest of chain) by ca.
func verifyLeaf(chain []*x509.Certificate, ca *x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("the master sent no certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, cert := range chain[1:] {
		if !cert.Equal(ca) {
			inter.AddCert(cert)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       TunnelServerName,
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("verifying the master's certificate: %w", err)
	}
	return nil
}

// exchange sends the Hello and reads the Welcome, under DialTimeout.
func (c *Client) exchange(ctx context.Context, conn *tls.Conn, rd *bufio.Reader, hello proto.Hello) (proto.Welcome, error) {
	_ = conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := json.Marshal(hello)
	if err != nil {
		return proto.Welcome{}, fatal(fmt.Errorf("encoding the hello: %w", err))
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return proto.Welcome{}, fmt.Errorf("sending the hello: %w", err)
	}
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return proto.Welcome{}, fmt.Errorf("reading the master's welcome: %w", err)
	}
	var w proto.Welcome
	if err := json.Unmarshal(line, &w); err != nil {
		return proto.Welcome{}, fmt.Errorf("reading the master's welcome: %w", err)
	}
	if w.Error != nil {
		if w.Error.Code == proto.ErrInternal {
			return proto.Welcome{}, fmt.Errorf("the master at %s failed to admit this node (will retry): %s", c.cfg.Master, w.Error.Message)
		}
		return proto.Welcome{}, fatal(&RefusedError{Master: c.cfg.Master, IdentityPath: IdentityPath(c.cfg.StateDir), Err: w.Error})
	}
	_ = conn.SetDeadline(time.Time{})
	return w, nil
}

// runSession serves the master and sends heartbeats until the session ends.
func (c *Client) runSession(ctx context.Context, conn *tls.Conn, rd *bufio.Reader, nodeID string, facts proto.Facts, interval time.Duration) error {
	ycfg := yamux.DefaultConfig()
	ycfg.EnableKeepAlive = true
	ycfg.KeepAliveInterval = c.cfg.KeepAliveInterval
	ycfg.ConnectionWriteTimeout = 10 * time.Second
	ycfg.MaxStreamWindowSize = 1 << 20
	ycfg.LogOutput = nil
	ycfg.Logger = slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)
	sess, err := yamux.Client(bufferedConn{Conn: conn, r: rd}, ycfg)
	if err != nil {
		return fmt.Errorf("starting the tunnel session: %w", err)
	}
	defer sess.Close()

	c.mu.Lock()
	c.sess, c.nodeID, c.facts = sess, nodeID, facts
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sess = nil
		c.mu.Unlock()
		c.tr.CloseIdleConnections()
	}()

	srv := &http.Server{
		Handler:           c.handler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = srv.Serve(sess) }()
	defer srv.Close()

	if interval <= 0 {
		interval = 5 * time.Second
	}
	c.log.Info("connected to the master", "node", nodeID, "heartbeat_interval", interval)
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect(nodeID)
	}
	err = c.heartbeats(ctx, sess, interval)
	if c.cfg.OnDisconnect != nil {
		c.cfg.OnDisconnect(err)
	}
	return err
}

// heartbeats sends one heartbeat at once and then one per interval, until
// ctx ends, the session closes or a heartbeat fails.
func (c *Client) heartbeats(ctx context.Context, sess *yamux.Session, interval time.Duration) error {
	// A heartbeat may take longer than one interval on a slow link, but one
	// that takes much longer means the master is gone.
	timeout := max(2*interval, 2*time.Second)
	t := time.NewTicker(interval)
	defer t.Stop()
	var seq uint64
	for {
		seq++
		if err := c.heartbeat(ctx, seq, timeout); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.CloseChan():
			return errors.New("the tunnel session closed")
		case <-t.C:
		}
	}
}

func (c *Client) heartbeat(ctx context.Context, seq uint64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hb := proto.Heartbeat{Seq: seq, SentAt: time.Now()}
	if c.cfg.Usage != nil {
		hb.Usage = c.cfg.Usage()
	}
	body, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("encoding a heartbeat: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://master"+proto.PathHeartbeat, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("making a heartbeat request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("sending heartbeat %d: %w", seq, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("heartbeat %d: the master answered %s: %s", seq, resp.Status, bytes.TrimSpace(msg))
	}
	var ack proto.HeartbeatAck
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ack); err != nil {
		return fmt.Errorf("reading the ack of heartbeat %d: %w", seq, err)
	}
	rtt := time.Since(start)
	if c.cfg.OnHeartbeat != nil {
		c.cfg.OnHeartbeat(rtt, ack)
	}
	return nil
}

// handler is what the client serves to the master.
func (c *Client) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+proto.PathPing, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"node_id": c.NodeID(), "time": time.Now().UTC()})
	})
	mux.HandleFunc("GET "+proto.PathFacts, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		facts := c.facts
		c.mu.Unlock()
		if c.cfg.Facts != nil {
			fresh := c.cfg.Facts()
			if fresh.Advertise == "" {
				fresh.Advertise = facts.Advertise
			}
			facts = fresh
		}
		writeJSON(w, facts)
	})
	if c.cfg.Handler != nil {
		mux.Handle("/", c.cfg.Handler)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// bufferedConn reads through a bufio.Reader that may already hold bytes of
// the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
