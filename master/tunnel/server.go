package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"gasper/proto"
)

// Authority decides who may connect. The master implements it with its store.
//
// Errors it returns should be *proto.Error (Code from the proto.Err*
// constants) so the agent learns the precise reason; any other error is
// logged and reaches the agent as proto.ErrInternal with a generic message,
// so internals never leak.
type Authority interface {
	// Join redeems a join token (string form) for a new node; it returns the
	// node's id and credential.
	Join(ctx context.Context, token string, facts proto.Facts) (nodeID, credential string, err error)
	// Authenticate checks a returning node's credential and records its new
	// facts.
	Authenticate(ctx context.Context, nodeID, credential string, facts proto.Facts) error
}

// Config configures a Server.
type Config struct {
	// TLS is the tunnel port's TLS configuration, from pki.CA.ServerTLSConfig.
	TLS *tls.Config
	// Authority admits joining and returning nodes.
	Authority Authority
	// Handler returns what the master serves on a node's streams (heartbeats
	// and the like). Nil serves 404 to everything.
	Handler func(nodeID string) http.Handler
	// OnConnect, if set, is called when a node's session is up.
	OnConnect func(nodeID string, facts proto.Facts)
	// OnDisconnect, if set, is called when a node's current session ends for
	// any reason. It is not called for a session that was replaced by a newer
	// one of the same node.
	OnDisconnect func(nodeID string)
	// HeartbeatInterval is sent to agents in Welcome; default 5s.
	HeartbeatInterval time.Duration
	// HandshakeTimeout bounds TLS plus Hello/Welcome; default 10s.
	HandshakeTimeout time.Duration
	// KeepAliveInterval is the yamux keepalive period, which is how a dead
	// peer is noticed when nothing else is sent; default 5s.
	KeepAliveInterval time.Duration
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
}

// maxHandshakeLine bounds a Hello line, so a client cannot make the master
// buffer without end.
const maxHandshakeLine = 64 << 10

// Server is the master's end of the tunnel. Create it with New.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // node id -> current session
}

// session is one node's live yamux session. Its pointer is its identity: a
// node that reconnects gets a new session, and cleanup of the old one must
// not touch the new one.
type session struct {
	nodeID string
	mux    *yamux.Session
	client *http.Client
}

// New returns a Server for cfg, filling in defaults.
func New(cfg Config) *Server {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "tunnel"),
		sessions: make(map[string]*session),
	}
}

// Serve accepts agent connections on ln (a plain TCP listener: Serve does
// the TLS). It returns when ctx ends or ln is closed, after closing ln, every
// connection it accepted and every session they carried. Serve may be called
// again afterwards, on a new listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS == nil || s.cfg.Authority == nil {
		return errors.New("serving the tunnel: Config.TLS and Config.Authority are required")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = make(map[net.Conn]struct{})
	)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	defer func() {
		cancel()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()

	var tempDelay time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				s.log.Warn("accepting a tunnel connection failed; retrying", "err", err, "delay", tempDelay)
				select {
				case <-time.After(tempDelay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("accepting tunnel connections: %w", err)
		}
		tempDelay = 0
		mu.Lock()
		conns[raw] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, raw)
				mu.Unlock()
				raw.Close()
			}()
			s.handle(ctx, raw)
		}()
	}
}

// handle runs one agent connection from handshake to the end of its session.
func (s *Server) handle(ctx context.Context, raw net.Conn) {
	log := s.log.With("remote", raw.RemoteAddr().String())
	conn := tls.Server(raw, s.cfg.TLS)
	nodeID, facts, rd, ok := s.handshake(ctx, conn, log)
	if !ok {
		return
	}
	log = log.With("node", nodeID)

	ycfg := yamuxConfig(s.cfg.KeepAliveInterval, log)
	// Reads go through rd so nothing the bufio.Reader already took from the
	// connection is lost.
	mux, err := yamux.Server(bufferedConn{Conn: conn, r: rd}, ycfg)
	if err != nil {
		log.Error("starting the tunnel session failed", "err", err)
		return
	}
	sess := &session{nodeID: nodeID, mux: mux}
	sess.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return mux.Open()
		},
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // long calls (logs, builds) stream; callers bound them with ctx
	}}

	s.mu.Lock()
	old := s.sessions[nodeID]
	s.sessions[nodeID] = sess
	s.mu.Unlock()
	if old != nil {
		log.Info("node reconnected; closing its previous session")
		old.close()
	}
	log.Info("node connected", "hostname", facts.Hostname, "advertise", facts.Advertise, "roles", facts.Roles)
	if s.cfg.OnConnect != nil {
		s.cfg.OnConnect(nodeID, facts)
	}

	var handler http.Handler = http.NotFoundHandler()
	if s.cfg.Handler != nil {
		handler = s.cfg.Handler(nodeID)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() { mux.Close() })
	defer stop()
	go func() {
		<-mux.CloseChan()
		srv.Close()
	}()
	_ = srv.Serve(mux) // returns once the session is closed
	mux.Close()
	sess.client.CloseIdleConnections()

	s.mu.Lock()
	current := s.sessions[nodeID] == sess
	if current {
		delete(s.sessions, nodeID)
	}
	s.mu.Unlock()
	if current {
		log.Info("node disconnected")
		if s.cfg.OnDisconnect != nil {
			s.cfg.OnDisconnect(nodeID)
		}
	}
}

// handshake runs TLS and Hello/Welcome under HandshakeTimeout. On failure it
// has already answered the agent (when it could) and logged.
func (s *Server) handshake(ctx context.Context, conn *tls.Conn, log *slog.Logger) (nodeID string, facts proto.Facts, rd *bufio.Reader, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// Closing the connection when ctx ends unblocks the reads below at once
	// on shutdown, not only at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := conn.HandshakeContext(ctx); err != nil {
		log.Debug("tunnel TLS handshake failed", "err", err)
		return "", facts, nil, false
	}
	rd = bufio.NewReaderSize(conn, 4096)
	line, err := readLine(rd, maxHandshakeLine)
	if err != nil {
		log.Debug("reading the agent's hello failed", "err", err)
		if errors.Is(err, errLineTooLong) {
			s.refuse(conn, log, &proto.Error{Code: proto.ErrBadHello, Message: "the hello message is too long"})
		}
		return "", facts, nil, false
	}
	var hello proto.Hello
	if err := json.Unmarshal(line, &hello); err != nil {
		s.refuse(conn, log, &proto.Error{Code: proto.ErrBadHello, Message: "the hello message is not valid JSON"})
		return "", facts, nil, false
	}
	if perr := checkVersion(hello.ProtoVersion); perr != nil {
		s.refuse(conn, log, perr)
		return "", facts, nil, false
	}

	welcome := proto.Welcome{ProtoVersion: proto.Version, HeartbeatInterval: s.cfg.HeartbeatInterval}
	switch {
	case hello.JoinToken != "":
		id, cred, err := s.cfg.Authority.Join(ctx, hello.JoinToken, hello.Facts)
		if err != nil {
			s.refuse(conn, log, s.publicError(err, log, "joining"))
			return "", facts, nil, false
		}
		welcome.NodeID, welcome.Credential = id, cred
		log.Info("node joined", "node", id, "hostname", hello.Facts.Hostname)
	case hello.NodeID != "" && hello.Credential != "":
		if err := s.cfg.Authority.Authenticate(ctx, hello.NodeID, hello.Credential, hello.Facts); err != nil {
			s.refuse(conn, log.With("node", hello.NodeID), s.publicError(err, log, "authenticating"))
			return "", facts, nil, false
		}
		welcome.NodeID = hello.NodeID
	default:
		s.refuse(conn, log, &proto.Error{Code: proto.ErrBadHello, Message: "the hello carries neither a join token nor a node id and credential"})
		return "", facts, nil, false
	}
	if err := writeJSONLine(conn, welcome); err != nil {
		log.Debug("writing the welcome failed", "err", err)
		return "", facts, nil, false
	}
	_ = conn.SetDeadline(time.Time{})
	return welcome.NodeID, hello.Facts, rd, true
}

// checkVersion says whether this master serves protocol v, and if not which
// side to upgrade.
func checkVersion(v int) *proto.Error {
	switch {
	case v < proto.MinVersion:
		return &proto.Error{Code: proto.ErrVersion, Message: fmt.Sprintf("agent speaks protocol %d, this master serves %d..%d: upgrade the agent", v, proto.MinVersion, proto.Version)}
	case v > proto.Version:
		return &proto.Error{Code: proto.ErrVersion, Message: fmt.Sprintf("agent speaks protocol %d, this master serves %d..%d: upgrade the master", v, proto.MinVersion, proto.Version)}
	}
	return nil
}

// publicError turns an Authority error into what the agent may see.
func (s *Server) publicError(err error, log *slog.Logger, doing string) *proto.Error {
	var perr *proto.Error
	if errors.As(err, &perr) && perr.Code != "" {
		return perr
	}
	log.Error("tunnel handshake failed inside the master", "doing", doing, "err", err)
	return &proto.Error{Code: proto.ErrInternal, Message: "the master could not check this node's identity (internal error; see the master's log)"}
}

// refuse answers a failed handshake with a Welcome carrying the error.
func (s *Server) refuse(conn net.Conn, log *slog.Logger, perr *proto.Error) {
	log.Warn("refused a tunnel connection", "code", perr.Code, "reason", perr.Message)
	_ = writeJSONLine(conn, proto.Welcome{ProtoVersion: proto.Version, Error: perr})
}

// Client returns an HTTP client whose requests go to the node's agent, each
// over a stream of the node's current session (the URL's host is ignored;
// use "http://agent"). It reports false if the node is not connected. The
// client stays bound to that session: after the node reconnects, ask again.
func (s *Server) Client(nodeID string) (*http.Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[nodeID]
	if !ok {
		return nil, false
	}
	return sess.client, true
}

// Connected reports whether the node has a live session.
func (s *Server) Connected(nodeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[nodeID]
	return ok
}

// ConnectedNodes returns the ids of the nodes with a live session.
func (s *Server) ConnectedNodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	return ids
}

// Disconnect closes the node's session, if any (for example because the node
// was removed). OnDisconnect follows.
func (s *Server) Disconnect(nodeID string) {
	s.mu.Lock()
	sess := s.sessions[nodeID]
	s.mu.Unlock()
	if sess != nil {
		sess.close()
	}
}

func (sess *session) close() {
	sess.mux.Close()
	sess.client.CloseIdleConnections()
}

// yamuxConfig is the session configuration both for the master's end.
func yamuxConfig(keepAlive time.Duration, log *slog.Logger) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = keepAlive
	cfg.ConnectionWriteTimeout = 10 * time.Second
	cfg.MaxStreamWindowSize = 1 << 20 // room for log and build streams
	cfg.StreamOpenTimeout = 30 * time.Second
	cfg.LogOutput = nil
	cfg.Logger = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	return cfg
}

var errLineTooLong = errors.New("line too long")

// readLine reads one '\n'-terminated line of at most max bytes.
func readLine(rd *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, errLineTooLong
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// bufferedConn reads through a bufio.Reader that may already hold bytes of
// the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
