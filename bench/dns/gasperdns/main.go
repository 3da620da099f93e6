// Command gasperdns runs the dns role (package agent/dns) on its own, for
// bench/dns/run.sh: it serves the zone.json found in -state until
// interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"gasper/agent/dns"
)

func main() { os.Exit(run()) }

func run() int {
	addr := flag.String("addr", "127.0.0.1:5301", "UDP and TCP address to serve")
	state := flag.String("state", ".", "directory holding zone.json")
	upstream := flag.String("upstream", "127.0.0.1:9", "resolver for names outside the zone")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until exit")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := dns.New(dns.Config{Addr: *addr, StateDir: *state, Upstreams: []string{*upstream}, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gasperdns:", err)
		return 1
	}
	if s.Zone().Domain == "" {
		fmt.Fprintf(os.Stderr, "gasperdns: no zone.json in %s\n", *state)
		return 1
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gasperdns:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "gasperdns:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gasperdns:", err)
		return 1
	}
	return 0
}
