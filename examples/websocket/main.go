// Command websocket is Gasper's WebSocket example: on $PORT it answers GET /
// with "websocket example", echoes WebSocket messages at /echo, counts and
// discards request bodies at /discard and streams N bytes at /stream?bytes=N.
// The end-to-end tests drive the proxy with it.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"

	"github.com/coder/websocket"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "websocket example")
	})
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("POST /discard", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, fmt.Sprintf("read %d bytes, then: %v", n, err), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, n)
	})
	mux.HandleFunc("GET /stream", stream)
	log.Fatal(http.ListenAndServe("0.0.0.0:"+port, mux))
}

// echo sends every message back, prefixed with "echo: ", until the client
// closes.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the client already.
	}
	defer c.CloseNow()
	for {
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
			return
		}
	}
}

// stream writes ?bytes=N bytes of a repeating pattern without a
// Content-Length, so the body goes out chunked, as a generated download
// would.
func stream(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "bytes must be a count of bytes", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		if _, err := w.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}
