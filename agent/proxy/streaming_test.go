package proxy

import (
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"gasper/proto"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestLargeBodiesStream sends 200 MiB up and 200 MiB down through the
// proxy while sampling the heap: a proxy that buffered a body would show
// it there.
func TestLargeBodiesStream(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MiB")
	}
	const size = 200 << 20
	b := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			io.WriteString(w, strconv.FormatInt(n, 10))
		default:
			w.Header().Set("Content-Length", strconv.Itoa(size))
			_, _ = io.CopyN(w, zeros{}, size)
		}
	}))
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "big", Hosts: []string{"big." + domain}, Backends: []string{b}},
	}}, nil)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()

	for _, scheme := range []string{"http", "https"} {
		c := r.client(scheme == "https")
		resp, err := c.Post(scheme+"://big."+domain+"/", "application/octet-stream", io.LimitReader(zeros{}, size))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != strconv.Itoa(size) {
			t.Errorf("%s upload: backend got %d %q, want %d bytes", scheme, resp.StatusCode, got, size)
		}

		resp, err = c.Get(scheme + "://big." + domain + "/")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			t.Errorf("%s download: got %d bytes, %v", scheme, n, err)
		}
	}
	close(stop)
	<-sampled
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by at most %d KiB while moving 800 MiB", grown>>10)
	if grown > 32<<20 {
		t.Errorf("heap grew by %d MiB: bodies are being buffered", grown>>20)
	}
}
