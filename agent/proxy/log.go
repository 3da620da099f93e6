package proxy

import (
	"log"
	"log/slog"
)

// serverErrorLog sends net/http's own complaints (TLS handshake errors,
// suppressed panics) to slog at Debug, where scanners' noise belongs.
func serverErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
