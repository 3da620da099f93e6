package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"
)

// failoverBreakdown reads the master's log (text format) for what happened
// to apps after since: when a node went down, and per app when its replica
// was rescheduled and when the new node's image build started and ended.
// serving holds when each app served again (since since). It returns one
// line per app, e.g. "pc: down +5.1s, placed +5.2s, build +5.2s..+7.9s, serving +8.4s",
// so a slow failover shows where its seconds went.
func failoverBreakdown(logPath string, since time.Time, apps []string, serving map[string]time.Duration) string {
	f, err := os.Open(logPath)
	if err != nil {
		return "no breakdown: " + err.Error()
	}
	defer f.Close()
	var down time.Duration
	type steps struct{ placed, buildFrom, buildTo time.Duration }
	per := map[string]*steps{}
	for _, a := range apps {
		per[a] = &steps{}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		at, ok := logTime(line)
		if !ok || at.Before(since) {
			continue
		}
		d := at.Sub(since)
		msg := logAttr(line, "msg")
		if strings.HasPrefix(msg, "node is down") && down == 0 {
			down = d
			continue
		}
		st := per[logAttr(line, "app")]
		if st == nil {
			continue
		}
		switch {
		case msg == "rescheduling replicas" && st.placed == 0:
			st.placed = d
		case msg == "building a replica's image" && st.buildFrom == 0:
			st.buildFrom = d
		case msg == "built a replica's image" && st.buildTo == 0:
			st.buildTo = d
		}
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
		fmt.Fprintf(&b, "\n    %s: down %s, placed %s, build %s..%s, serving %s", a, at(down), at(st.placed),
			at(st.buildFrom), at(st.buildTo), at(serving[a]))
	}
	return b.String()
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
