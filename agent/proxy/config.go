package proxy

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures a Proxy. Zero durations and sizes take the defaults
// listed on each field.
type Config struct {
	// HTTPAddr is the plain HTTP listen address (HTTP/1.1 and h2c), e.g.
	// "127.0.0.2:80". Empty disables the plain listener.
	HTTPAddr string
	// HTTPSAddr is the TLS listen address, e.g. "127.0.0.2:443". Empty
	// disables the TLS listener.
	HTTPSAddr string
	// StateDir keeps routes.json (the last table) and acme/ (certmagic
	// storage). Empty keeps nothing on disk.
	StateDir string
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// AccessLogger receives one Info line per request. Nil uses Logger.
	AccessLogger *slog.Logger

	// ReadHeaderTimeout bounds reading a request's headers (and the TLS
	// handshake): the slowloris defence. Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections. Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers; larger gets 431. Default 64 KiB.
	MaxHeaderBytes int
	// DialTimeout bounds connecting to a backend before trying the next one.
	// Default 2s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for an HTTP/1.1 backend's
	// response headers (504 after it). gRPC over h2c is not bounded, since
	// a streaming server may send headers late. Default 60s.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerBackend is the number of idle keep-alive connections
	// kept per backend (by each event loop, and by the goroutine servers).
	// Default 1024: enough that HTTP/2 clients with hundreds of streams
	// in flight do not make the proxy dial and close backend connections
	// all the time.
	MaxIdleConnsPerBackend int
	// ShutdownTimeout bounds the graceful shutdown when Run's context ends;
	// connections still open after it are closed. Default 10s.
	ShutdownTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AccessLogger == nil {
		c.AccessLogger = c.Logger
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.DialTimeout, 2*time.Second)
	def(&c.ResponseHeaderTimeout, 60*time.Second)
	def(&c.ShutdownTimeout, 10*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.MaxIdleConnsPerBackend == 0 {
		c.MaxIdleConnsPerBackend = 1024
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.ReadHeaderTimeout < 0 || c.IdleTimeout < 0 || c.DialTimeout < 0 ||
		c.ResponseHeaderTimeout < 0 || c.ShutdownTimeout < 0 {
		return errors.New("proxy config: timeouts must not be negative")
	}
	if c.MaxHeaderBytes < 0 || c.MaxIdleConnsPerBackend < 0 {
		return errors.New("proxy config: limits must not be negative")
	}
	return nil
}
