package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// failoverBreakdown reads the master's and agents' logs (text format) for
// what happened to apps after since: when a node went down, and per app
// when its replica was rescheduled, when the new node's image build started
// and ended, when the new instance started and when it was healthy.
// serving holds when each app served again (since since). It returns one
// line per app, e.g. "pc: down +4.1s, placed +4.1s, build +4.1s..+4.4s,
// started +4.6s, healthy +5.1s, serving +5.3s", so a slow failover shows
// where its seconds went.
func failoverBreakdown(logPaths []string, since time.Time, apps []string, serving map[string]time.Duration) string {
	var down time.Duration
	type steps struct{ placed, buildFrom, buildTo, started, healthy time.Duration }
	per := map[string]*steps{}
	for _, a := range apps {
		per[a] = &steps{}
	}
	for _, p := range logPaths {
		f, err := os.Open(p)
		if err != nil {
			return "no breakdown: " + err.Error()
		}
		scanLog(f, since, func(d time.Duration, msg, app string) {
			if strings.HasPrefix(msg, "node is down") && down == 0 {
				down = d
			}
			st := per[app]
			if st == nil {
				return
			}
			first := func(v *time.Duration) {
				if *v == 0 {
					*v = d
				}
			}
			switch msg {
			case "rescheduling replicas":
				first(&st.placed)
			case "building a replica's image":
				first(&st.buildFrom)
			case "built a replica's image":
				first(&st.buildTo)
			case "starting instance":
				first(&st.started)
			case "instance healthy":
				first(&st.healthy)
			}
		})
		f.Close()
	}
	at := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return "+" + d.Round(100*time.Millisecond).String()
	}
	var b strings.Builder
	for _, a := range apps {
		st := per[a]
		fmt.Fprintf(&b, "\n    %s: down %s, placed %s, build %s..%s, started %s, healthy %s, serving %s", a, at(down), at(st.placed),
			at(st.buildFrom), at(st.buildTo), at(st.started), at(st.healthy), at(serving[a]))
	}
	return b.String()
}

// scanLog calls fn with the time (since since), msg and app of each slog
// text line of f from since on.
func scanLog(f *os.File, since time.Time, fn func(d time.Duration, msg, app string)) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		at, ok := logTime(line)
		if !ok || at.Before(since) {
			continue
		}
		fn(at.Sub(since), logAttr(line, "msg"), logAttr(line, "app"))
	}
}

// logTime is the time= attribute of a slog text line.
func logTime(line string) (time.Time, bool) {
	v := logAttr(line, "time")
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// logAttr is the value of key=value (or key="quoted value") in a slog text line.
func logAttr(line, key string) string {
	i := strings.Index(line, key+"=")
	for i > 0 && line[i-1] != ' ' {
		j := strings.Index(line[i+1:], " "+key+"=")
		if j < 0 {
			return ""
		}
		i += j + 2
	}
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+1:]
	if strings.HasPrefix(v, `"`) {
		var out strings.Builder
		for k := 1; k < len(v); k++ {
			switch v[k] {
			case '\\':
				if k+1 < len(v) {
					k++
					out.WriteByte(v[k])
				}
			case '"':
				return out.String()
			default:
				out.WriteByte(v[k])
			}
		}
		return out.String()
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// logPaths are the log files of the master and of the named nodes.
func (c *cluster) logPaths(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, filepath.Join(c.dir, n+".log"))
	}
	return out
}
