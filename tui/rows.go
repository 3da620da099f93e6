package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gasper/api"
)

// rebuild turns list t's data into its table's rows.
func (m *Model) rebuild(t tab) {
	now := m.now()
	var rows []row
	switch t {
	case tabApps:
		for _, a := range m.apps {
			rows = append(rows, row{key: a.Name,
				cells: []string{a.Name, a.Status, dash(releaseText(a.Release)), dash(or(a.Runtime, a.Config.Runtime)),
					instancesText(a.Instances), dash(appURL(a)), ago(now, a.UpdatedAt)},
				sort: []string{"", "", strconv.Itoa(a.Release), "", "", "", a.UpdatedAt.UTC().Format(time.RFC3339Nano)}})
		}
	case tabDBs:
		for _, d := range m.dbs {
			rows = append(rows, row{key: d.Name,
				cells: []string{d.Name, d.Engine, d.Status, dash(or(d.NodeName, d.Node)), dash(strings.Join(d.Links, ",")),
					dash(d.Host), ago(now, d.CreatedAt)},
				sort: []string{"", "", "", "", "", "", d.CreatedAt.UTC().Format(time.RFC3339Nano)}})
		}
	case tabNodes:
		for _, n := range m.nodes {
			state := n.State
			if !n.Connected && state == api.NodeReady {
				state = "disconnected"
			}
			seen := "-"
			if n.LastSeen != nil {
				seen = ago(now, *n.LastSeen)
			}
			rows = append(rows, row{key: n.ID,
				cells: []string{n.Hostname, state, strings.Join(n.Roles, ","), fmt.Sprintf("%.0f%%", n.Usage.CPUPercent),
					memText(n.Usage.MemoryUsedBytes, n.Facts.MemoryBytes), n.Advertise, seen},
				sort: []string{"", "", "", fmt.Sprintf("%f", n.Usage.CPUPercent), fmt.Sprintf("%020d", n.Usage.MemoryUsedBytes), "", ""}})
		}
	case tabUsers:
		owned := map[string]int{}
		for _, a := range m.apps {
			owned[a.Owner]++
		}
		for _, u := range m.users {
			rows = append(rows, row{key: u.Email,
				cells: []string{u.Email, yesNo(u.Admin), strconv.Itoa(owned[u.Email]), ago(now, u.CreatedAt), u.ID},
				sort:  []string{"", "", "", u.CreatedAt.UTC().Format(time.RFC3339Nano), ""}})
		}
	}
	m.tables[t].setRows(rows)
}

func releaseText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// instancesText is healthy/total.
func instancesText(ins []api.Instance) string {
	healthy := 0
	for _, in := range ins {
		if in.State == "healthy" {
			healthy++
		}
	}
	return fmt.Sprintf("%d/%d", healthy, len(ins))
}

// appURL is where people reach the app: its first URL through the
// proxies, else its direct address.
func appURL(a api.App) string {
	if len(a.URLs) > 0 {
		return a.URLs[0]
	}
	if a.Address != "" {
		return "http://" + a.Address
	}
	return ""
}

func memText(used, total uint64) string {
	if total == 0 {
		return "-"
	}
	return humanBytes(used) + "/" + humanBytes(total)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// humanBytes renders a size in binary units: "512B", "1.5G".
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for x := n / unit; x >= unit && exp < 5; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(n)/float64(div), "KMGTPE"[exp])
}

// ago renders how long before now t was: "3s ago", "5m ago", "2h ago", "3d ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}
