// Command agents measures the master under many agents: N real tunnel
// clients (each with its own identity and state directory) join a real
// gasper-master process and heartbeat; it reports the master's CPU and RSS,
// heartbeat round trips against a plain loopback HTTP round trip measured in
// the same run, and how long all N take to reconnect after a master restart.
// With -agent-bin and a running containerd it also reports an idle
// gasper-agent's RSS.
//
//	go run ./bench/agents -agents 200 -measure 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"gasper/agent/tunnel"
	"gasper/api"
	"gasper/api/client"
	"gasper/bench/masterproc"
	"gasper/proto"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/agents:", err)
		os.Exit(1)
	}
}

type options struct {
	masterBin, agentBin string
	agents              int
	interval, measure   time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.masterBin, "master-bin", "bin/gasper-master", "gasper-master binary")
	flag.StringVar(&o.agentBin, "agent-bin", "bin/gasper-agent", "gasper-agent binary, for its idle RSS (needs containerd; skipped without)")
	flag.IntVar(&o.agents, "agents", 200, "number of tunnel clients")
	flag.DurationVar(&o.interval, "interval", time.Second, "heartbeat interval")
	flag.DurationVar(&o.measure, "measure", 20*time.Second, "measuring window")
	flag.Parse()

	dir, err := os.MkdirTemp("", "gasper-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m := masterproc.New(o.masterBin, dir, o.interval)
	if err := m.Start(); err != nil {
		return err
	}
	defer m.Stop()
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	idleRSS := masterproc.RSS(m.Pid())

	c, err := m.Admin(ctx)
	if err != nil {
		return err
	}
	jt, err := c.CreateJoinToken(ctx, api.CreateJoinTokenRequest{TTL: "1h"})
	if err != nil {
		return err
	}

	floor := loopbackFloor(2000)

	var mu sync.Mutex
	var rtts []time.Duration
	recording := false
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	joinStart := time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range o.agents {
		host := fmt.Sprintf("bench-%03d", i)
		cl, err := tunnel.NewClient(tunnel.Config{
			Master: m.Tunnel, JoinToken: jt.Token, StateDir: filepath.Join(dir, "agents", host),
			Facts: func() proto.Facts {
				return proto.Facts{Hostname: host, Advertise: "127.0.0.1", Roles: []string{proto.RoleApp}, CPUs: 2}
			},
			OnHeartbeat: func(rtt time.Duration, _ proto.HeartbeatAck) {
				mu.Lock()
				if recording {
					rtts = append(rtts, rtt)
				}
				mu.Unlock()
			},
			// Answer the master's pushes (desired apps) as a real agent does.
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
			Logger:  quiet,
		})
		if err != nil {
			return err
		}
		go cl.Run(runCtx)
	}
	if err := masterproc.WaitConnected(ctx, c, o.agents, 2*time.Minute); err != nil {
		return err
	}
	joinTook := time.Since(joinStart)

	mu.Lock()
	recording = true
	mu.Unlock()
	cpu0, t0 := masterproc.CPUTicks(m.Pid()), time.Now()
	time.Sleep(o.measure)
	cpu1, wall := masterproc.CPUTicks(m.Pid()), time.Since(t0)
	loadedRSS := masterproc.RSS(m.Pid())
	mu.Lock()
	recording = false
	hb := append([]time.Duration(nil), rtts...)
	mu.Unlock()
	cpuPct := float64(cpu1-cpu0) / 100 / wall.Seconds() * 100 // USER_HZ is 100 on Linux

	// Restart the master; every client must come back by itself.
	m.Stop()
	restart := time.Now()
	if err := m.Start(); err != nil {
		return err
	}
	if err := masterproc.WaitConnected(ctx, c, o.agents, 2*time.Minute); err != nil {
		return err
	}
	reconnect := time.Since(restart)

	agentRSS := agentIdleRSS(o, m, c, dir)

	fmt.Printf("gasper bench/agents: %d agents, heartbeat every %s, measured over %s\n\n", o.agents, o.interval, wall.Round(time.Millisecond))
	fmt.Printf("%-44s %s\n", "all agents joined and connected in", joinTook.Round(time.Millisecond))
	fmt.Printf("%-44s %.1f%% of one core\n", "master CPU while they heartbeat", cpuPct)
	fmt.Printf("%-44s %s idle, %s with %d agents (%s per agent)\n", "master RSS", masterproc.MiB(idleRSS), masterproc.MiB(loadedRSS), o.agents, kib((loadedRSS-idleRSS)/uint64(o.agents)))
	fmt.Printf("%-44s p50 %s  p99 %s  (%d heartbeats)\n", "heartbeat round trip", pct(hb, 50), pct(hb, 99), len(hb))
	fmt.Printf("%-44s p50 %s  p99 %s\n", "floor: plain loopback HTTP POST round trip", pct(floor, 50), pct(floor, 99))
	fmt.Printf("%-44s p50 %.1fx  p99 %.1fx\n", "heartbeat / floor", ratio(pct(hb, 50), pct(floor, 50)), ratio(pct(hb, 99), pct(floor, 99)))
	fmt.Printf("%-44s %s (%.1f heartbeat intervals)\n", "all agents reconnected after master restart", reconnect.Round(time.Millisecond), reconnect.Seconds()/o.interval.Seconds())
	if agentRSS != "" {
		fmt.Printf("%-44s %s\n", "idle gasper-agent RSS", agentRSS)
	}
	return nil
}

// loopbackFloor times n small JSON POSTs to an in-process HTTP server over
// loopback TCP with keep-alive: what a heartbeat costs without the tunnel.
func loopbackFloor(n int) []time.Duration {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hb proto.Heartbeat
		json.NewDecoder(r.Body).Decode(&hb)
		json.NewEncoder(w).Encode(proto.HeartbeatAck{Seq: hb.Seq, State: api.NodeReady})
	})}
	go srv.Serve(ln)
	defer srv.Close()
	out := make([]time.Duration, 0, n)
	for i := range n {
		body, _ := json.Marshal(proto.Heartbeat{Seq: uint64(i), SentAt: time.Now()})
		start := time.Now()
		resp, err := http.Post("http://"+ln.Addr().String()+proto.PathHeartbeat, "application/json", bytes.NewReader(body))
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, time.Since(start))
	}
	return out
}

// agentIdleRSS starts one real gasper-agent, lets it settle and reads its RSS.
func agentIdleRSS(o options, m *masterproc.Master, c *client.Client, dir string) string {
	if _, err := os.Stat("/run/containerd/containerd.sock"); err != nil {
		return "not measured: containerd is not running"
	}
	if _, err := os.Stat(o.agentBin); err != nil {
		return "not measured: no " + o.agentBin
	}
	jt, err := c.CreateJoinToken(context.Background(), api.CreateJoinTokenRequest{TTL: "1h"})
	if err != nil {
		return "not measured: " + err.Error()
	}
	cmd := exec.Command(o.agentBin, "join", m.Tunnel, "--token", jt.Token, "--roles", "app",
		"--advertise", "127.0.0.1", "--state-dir", filepath.Join(dir, "real-agent"), "--log-format", "json")
	if err := cmd.Start(); err != nil {
		return "not measured: " + err.Error()
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	time.Sleep(5 * time.Second)
	return masterproc.MiB(masterproc.RSS(cmd.Process.Pid))
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func kib(b uint64) string { return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10)) }
