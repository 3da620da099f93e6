package tui

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"gasper/api"
)

// detailTitle names what the detail view shows.
func (m *Model) detailTitle() string {
	if m.tab == tabNodes {
		if n := m.findNode(m.detail); n != nil {
			return n.Hostname
		}
	}
	return m.detail
}

// updateDetail redraws the detail view's content, keeping its scroll.
func (m *Model) updateDetail() {
	if m.mode != modeDetail {
		return
	}
	var s string
	switch m.tab {
	case tabApps:
		s = m.appDetail()
	case tabDBs:
		s = m.dbDetail()
	case tabNodes:
		s = m.nodeDetail()
	case tabUsers:
		s = m.userDetail()
	}
	m.detailView.SetContent(s)
	if m.detailBottom {
		m.detailView.GotoBottom()
	}
}

func (m *Model) findApp(name string) *api.App {
	for i := range m.apps {
		if m.apps[i].Name == name {
			return &m.apps[i]
		}
	}
	return nil
}

func (m *Model) findDB(name string) *api.Database {
	for i := range m.dbs {
		if m.dbs[i].Name == name {
			return &m.dbs[i]
		}
	}
	return nil
}

func (m *Model) findNode(id string) *api.Node {
	for i := range m.nodes {
		if m.nodes[i].ID == id {
			return &m.nodes[i]
		}
	}
	return nil
}

// kv renders aligned "key  value" lines; empty values are left out.
func kv(pairs ...string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", pairs[i], pairs[i+1])
		}
	}
	tw.Flush()
	return b.String()
}

// grid renders rows as aligned columns under a header, indented.
func grid(header []string, rows [][]string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\n", strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\n", strings.Join(r, "\t"))
	}
	tw.Flush()
	return b.String()
}

func (m *Model) heading(s string) string { return m.st.section.Render(s) + "\n" }

func (m *Model) gone(kind string) string {
	return "\n  " + m.st.errText.Render(fmt.Sprintf("The %s %s is gone.", kind, m.detail)) + " Press esc to go back.\n"
}

func (m *Model) appDetail() string {
	a := m.findApp(m.detail)
	if a == nil {
		return m.gone("app")
	}
	now := m.now()
	var b strings.Builder
	status := m.st.state(a.Status).Render(a.Status)
	if a.StatusReason != "" {
		status += " (" + a.StatusReason + ")"
	}
	fmt.Fprintf(&b, "%s  %s\n", m.st.title.Render(a.Name), status)
	mem, cpu := "master's default", "master's default"
	if a.Config.MemoryBytes > 0 {
		mem = humanBytes(uint64(a.Config.MemoryBytes))
	}
	if a.Config.CPUs > 0 {
		cpu = fmt.Sprintf("%g", a.Config.CPUs)
	}
	git := ""
	if a.Git != nil {
		git = a.Git.URL
		if a.Git.Branch != "" {
			git += " (" + a.Git.Branch + ")"
		}
	}
	addr := ""
	if a.Address != "" {
		addr = "http://" + a.Address
	}
	b.WriteString(kv(
		"Release", dash(releaseText(a.Release))+fmt.Sprintf(" (%d of %d replicas running)", a.Running, a.Replicas),
		"Runtime", dash(or(a.Runtime, a.Config.Runtime)),
		"Owner", a.Owner,
		"URLs", strings.Join(a.URLs, "  "),
		"Address", addr,
		"Resources", "memory "+mem+", CPU "+cpu,
		"Git", git,
		"Updated", ago(now, a.UpdatedAt),
	))

	b.WriteString("\n" + m.heading("Instances"))
	if len(a.Instances) == 0 {
		b.WriteString("  none\n")
	} else {
		var rows [][]string
		for _, in := range a.Instances {
			started := "-"
			if in.StartedAt != nil {
				started = ago(now, *in.StartedAt)
			}
			rows = append(rows, []string{shortID(in.ID), dash(or(in.NodeName, in.Node)), in.State,
				fmt.Sprint(in.Restarts), fmt.Sprint(in.Release), dash(in.Address), started})
		}
		b.WriteString(grid([]string{"ID", "NODE", "STATE", "RESTARTS", "REL", "ADDRESS", "STARTED"}, rows))
	}

	b.WriteString("\n" + m.heading("Environment (values hidden)"))
	if len(a.EnvNames) == 0 {
		b.WriteString("  none\n")
	} else {
		names := slices.Clone(a.EnvNames)
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  %s=••••\n", n)
		}
	}

	b.WriteString("\n" + m.heading("Databases"))
	var linked [][]string
	for _, d := range m.dbs {
		if slices.Contains(d.Links, a.Name) {
			linked = append(linked, []string{d.Name, d.Engine, d.Status, dash(d.Host)})
		}
	}
	if len(linked) == 0 {
		b.WriteString("  none linked (databases tab: a links one)\n")
	} else {
		b.WriteString(grid([]string{"NAME", "ENGINE", "STATUS", "HOST"}, linked))
	}

	b.WriteString("\n" + m.heading("Recent events"))
	events := 0
	for _, in := range a.Instances {
		if in.State != "healthy" && in.State != "starting" {
			line := fmt.Sprintf("  instance %s: %s", shortID(in.ID), in.State)
			if in.ExitCode != 0 {
				line += fmt.Sprintf(", exit code %d", in.ExitCode)
			}
			if in.OOMKilled {
				line += ", killed for memory"
			}
			b.WriteString(line + "\n")
			if last := lastLine(in.LastLog); last != "" {
				b.WriteString("    " + m.st.dim.Render(last) + "\n")
			}
			events++
		}
	}
	if m.releasesFor == a.Name {
		for i, r := range m.releases {
			if i == 8 {
				break
			}
			cur := ""
			if r.Current {
				cur = " (current)"
			}
			line := fmt.Sprintf("  %-8s release %d %s%s, %s", ago(now, r.CreatedAt), r.Number, r.Status, cur, or(r.Cause, "deploy"))
			if r.BuildTime != "" {
				line += ", built in " + r.BuildTime
			}
			b.WriteString(line + "\n")
			if r.Error != "" {
				b.WriteString("    " + m.st.errText.Render(r.Error) + "\n")
			}
			events++
		}
	}
	if events == 0 {
		b.WriteString("  none yet\n")
	}
	return b.String()
}

func (m *Model) dbDetail() string {
	d := m.findDB(m.detail)
	if d == nil {
		return m.gone("database")
	}
	var b strings.Builder
	status := m.st.state(d.Status).Render(d.Status)
	if d.StatusReason != "" {
		status += " (" + d.StatusReason + ")"
	}
	fmt.Fprintf(&b, "%s  %s  %s\n", m.st.title.Render(d.Name), d.Engine, status)
	mem := ""
	if d.MemoryBytes > 0 {
		mem = humanBytes(uint64(d.MemoryBytes))
	}
	b.WriteString(kv(
		"Owner", d.Owner,
		"Node", or(d.NodeName, d.Node),
		"Host", d.Host,
		"Address", d.Address,
		"Database", d.DBName,
		"User", d.User,
		"URL", d.URL,
		"Memory", mem,
		"Created", ago(m.now(), d.CreatedAt),
	))
	b.WriteString(m.st.dim.Render("  The password: gasper db info "+d.Name+" --show-password") + "\n")
	b.WriteString("\n" + m.heading("Linked apps"))
	if len(d.Links) == 0 {
		b.WriteString("  none (a links an app)\n")
	}
	for _, l := range d.Links {
		st := "gone"
		if a := m.findApp(l); a != nil {
			st = a.Status
		}
		fmt.Fprintf(&b, "  %s  %s\n", l, st)
	}
	if d.LastLog != "" {
		b.WriteString("\n" + m.heading("Last log lines"))
		for _, l := range strings.Split(strings.TrimRight(d.LastLog, "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

func (m *Model) nodeDetail() string {
	n := m.findNode(m.detail)
	if n == nil {
		return m.gone("node")
	}
	now := m.now()
	var b strings.Builder
	conn := "connected"
	if !n.Connected {
		conn = "disconnected"
	}
	fmt.Fprintf(&b, "%s  %s  %s\n", m.st.title.Render(n.Hostname), m.st.state(n.State).Render(n.State), conn)
	seen := ""
	if n.LastSeen != nil {
		seen = ago(now, *n.LastSeen)
	}
	f, u := n.Facts, n.Usage
	b.WriteString(kv(
		"ID", n.ID,
		"Advertise", n.Advertise,
		"Roles", strings.Join(n.Roles, ", "),
		"CPU", fmt.Sprintf("%.0f%% of %d cores, load %.2f", u.CPUPercent, f.CPUs, u.Load1),
		"Memory", memText(u.MemoryUsedBytes, f.MemoryBytes),
		"Disk", memText(u.DiskUsedBytes, f.DiskBytes),
		"Agent", f.AgentVersion,
		"Containerd", f.ContainerdVersion,
		"Kernel", f.KernelVersion,
		"Platform", strings.Trim(f.OS+"/"+f.Arch, "/"),
		"Joined", ago(now, n.JoinedAt),
		"Last seen", seen,
	))
	b.WriteString("\n" + m.heading("App instances"))
	var rows [][]string
	for _, a := range m.apps {
		for _, in := range a.Instances {
			if in.Node == n.ID || (in.Node == "" && in.NodeName == n.Hostname) {
				rows = append(rows, []string{a.Name, shortID(in.ID), in.State, dash(in.Address)})
			}
		}
	}
	if len(rows) == 0 {
		b.WriteString("  none\n")
	} else {
		b.WriteString(grid([]string{"APP", "INSTANCE", "STATE", "ADDRESS"}, rows))
	}
	b.WriteString("\n" + m.heading("Databases"))
	rows = nil
	for _, d := range m.dbs {
		if d.Node == n.ID {
			rows = append(rows, []string{d.Name, d.Engine, d.Status})
		}
	}
	if len(rows) == 0 {
		b.WriteString("  none\n")
	} else {
		b.WriteString(grid([]string{"NAME", "ENGINE", "STATUS"}, rows))
	}
	return b.String()
}

func (m *Model) userDetail() string {
	var u *api.User
	for i := range m.users {
		if m.users[i].Email == m.detail {
			u = &m.users[i]
		}
	}
	if u == nil {
		return m.gone("user")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m.st.title.Render(u.Email))
	b.WriteString(kv("ID", u.ID, "Admin", yesNo(u.Admin), "Created", ago(m.now(), u.CreatedAt)))
	b.WriteString("\n" + m.heading("Apps"))
	n := 0
	for _, a := range m.apps {
		if a.Owner == u.Email {
			fmt.Fprintf(&b, "  %s  %s\n", a.Name, a.Status)
			n++
		}
	}
	if n == 0 {
		b.WriteString("  none\n")
	}
	return b.String()
}

// shortID keeps the start of a long id, enough to tell instances apart.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
