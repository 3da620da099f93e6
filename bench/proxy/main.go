// Command proxy benchmarks the Gasper proxy role against nginx as a
// reverse proxy, both in front of the same backend, on loopback.
//
// With no arguments it runs run.sh (the whole benchmark; bench.sh calls it
// this way). "proxy gasper -http ADDR -https ADDR -backend ADDR -cert F
// -key F" runs agent/proxy with a fixed one-route table, which run.sh
// starts as the proxy under test.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"gasper/agent/proxy"
	"gasper/proto"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 || args[0] != "gasper" {
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("bash", append([]string{filepath.Join(filepath.Dir(file), "run.sh")}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "bench/proxy:", err)
			return 1
		}
		return 0
	}
	fs := flag.NewFlagSet("gasper", flag.ContinueOnError)
	httpAddr := fs.String("http", "127.0.0.1:18081", "plain listen address")
	httpsAddr := fs.String("https", "127.0.0.1:18444", "TLS listen address")
	backend := fs.String("backend", "127.0.0.1:18080", "backend address")
	certFile := fs.String("cert", "", "PEM certificate for the route's hosts")
	keyFile := fs.String("key", "", "PEM key")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof here (empty: off)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cert, err := os.ReadFile(*certFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := proxy.New(proxy.Config{HTTPAddr: *httpAddr, HTTPSAddr: *httpsAddr, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// wrk sends the URL's host (an IP here) as SNI, so the IP is a name too.
	hosts := []string{"bench.test", "127.0.0.1"}
	if err := p.SetTable(proto.RouteTable{
		Version:      1,
		Routes:       []proto.Route{{App: "bench", Hosts: hosts, Backends: []string{*backend}}},
		Certificates: []proto.Certificate{{Hosts: hosts, CertPEM: string(cert), KeyPEM: string(key)}},
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
