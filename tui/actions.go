package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"gasper/api"
)

// actionTimeout bounds one action; creating an app uploads its source.
const (
	actionTimeout = 30 * time.Second
	uploadTimeout = 10 * time.Minute
)

// run starts an action with a spinner saying label; its outcome lands in
// the status line as a doneMsg, and the lists are fetched again.
func (m *Model) run(label string, timeout time.Duration, do func(ctx context.Context) (string, error)) tea.Cmd {
	m.busy = label
	m.status = ""
	ctx := m.ctx
	return tea.Batch(m.spin.Tick, func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		ok, err := do(ctx)
		return doneMsg{ok: ok, err: err}
	})
}

// actionKey handles the keys that act on an item: name is the selected
// (or shown) item, "" when there is none.
func (m *Model) actionKey(msg tea.KeyMsg, name string) tea.Cmd {
	k := m.keys
	if m.busy != "" && !key.Matches(msg, k.Logs) {
		if key.Matches(msg, k.New, k.Restart, k.Rebuild, k.Rollback, k.Scale, k.Delete, k.Link, k.Unlink) {
			m.setStatus("wait: "+m.busy, true)
		}
		return nil
	}
	if key.Matches(msg, k.New) && m.mode == modeList {
		switch m.tab {
		case tabApps:
			return m.createAppForm()
		case tabDBs:
			return m.createDBForm()
		}
		return nil
	}
	if name == "" {
		return nil
	}
	switch m.tab {
	case tabApps:
		switch {
		case key.Matches(msg, k.Logs):
			return m.openLogs(name)
		case key.Matches(msg, k.Restart):
			return m.confirm("Restart "+name+"?", []string{"Its instances are replaced by fresh ones."},
				"Restarting "+name, func(ctx context.Context, c Client) (string, error) {
					return "Restarted " + name, c.Restart(ctx, name)
				})
		case key.Matches(msg, k.Rebuild):
			return m.confirm("Rebuild "+name+"?", []string{"Its current source is built again and rolled out as a new release."},
				"Rebuilding "+name, func(ctx context.Context, c Client) (string, error) {
					r, err := c.Rebuild(ctx, name)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("Building release %d of %s", r.Number, name), nil
				})
		case key.Matches(msg, k.Rollback):
			return m.confirm("Roll "+name+" back?", []string{"A new release runs the image of the release before the current one (no build)."},
				"Rolling back "+name, func(ctx context.Context, c Client) (string, error) {
					r, err := c.Rollback(ctx, name, 0)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("Rolling %s back: release %d (%s)", name, r.Number, r.Cause), nil
				})
		case key.Matches(msg, k.Scale):
			return m.scaleForm(name)
		case key.Matches(msg, k.Delete):
			return m.typedDelete("app", name, name, []string{"Its containers, images, releases and sources are removed."},
				func(ctx context.Context, c Client) error { return c.DeleteApp(ctx, name) })
		}
	case tabDBs:
		switch {
		case key.Matches(msg, k.Delete):
			return m.typedDelete("database", name, name, []string{"Its server and data are removed; its backups stay restorable."},
				func(ctx context.Context, c Client) error { return c.DeleteDatabase(ctx, name, false) })
		case key.Matches(msg, k.Link):
			return m.linkForm(name)
		case key.Matches(msg, k.Unlink):
			return m.unlinkForm(name)
		}
	case tabNodes:
		host, cordoned := name, false
		if n := m.findNode(name); n != nil {
			host, cordoned = n.Hostname, n.Cordoned
		}
		switch {
		case key.Matches(msg, k.Cordon):
			verb, text := "Cordon", "No new app or database is placed there; what runs there stays."
			if cordoned {
				verb, text = "Uncordon", "New apps and databases may be placed there again."
			}
			return m.confirm(verb+" node "+host+"?", []string{text}, verb+"ing "+host,
				func(ctx context.Context, c Client) (string, error) {
					if _, err := c.CordonNode(ctx, name, !cordoned); err != nil {
						return "", err
					}
					return verb + "ed node " + host, nil
				})
		case key.Matches(msg, k.Drain):
			return m.confirm("Drain node "+host+"?", []string{"It is cordoned, and its apps move to other nodes one at a time,",
				"each new instance healthy before the old one stops."}, "Draining "+host,
				func(ctx context.Context, c Client) (string, error) {
					d, err := c.DrainNode(ctx, name)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("Draining node %s: %d apps to move", host, len(d.Apps)), nil
				})
		}
		if key.Matches(msg, k.Delete) {
			return m.typedDelete("node", host, host, []string{"The master forgets the node and closes its tunnel; what runs there is not moved."},
				func(ctx context.Context, c Client) error { return c.RemoveNode(ctx, name) })
		}
	}
	return nil
}

// confirm asks a y/n question before running do.
func (m *Model) confirm(q string, text []string, busy string, do func(context.Context, Client) (string, error)) tea.Cmd {
	c := m.cfg.Client
	return m.openForm(&form{title: q, text: text, yesNo: true, submit: func([]string) (tea.Cmd, error) {
		return m.run(busy+"…", actionTimeout, func(ctx context.Context) (string, error) { return do(ctx, c) }), nil
	}})
}

// typedDelete asks for the item's name typed out before deleting it: a
// wrong key must not lose an app.
func (m *Model) typedDelete(kind, name, word string, text []string, do func(context.Context, Client) error) tea.Cmd {
	c := m.cfg.Client
	f := &form{title: "Delete " + kind + " " + name + "?", text: append(text, "Type "+word+" to confirm."),
		fields: []*field{textField("Name", "", "")}}
	f.submit = func(vs []string) (tea.Cmd, error) {
		if vs[0] != word {
			return nil, fmt.Errorf("%q is not %q; type the name exactly, or esc", vs[0], word)
		}
		if m.mode == modeDetail || m.mode == modeLogs {
			m.back()
			if m.mode == modeDetail {
				m.back()
			}
		}
		return m.run("Deleting "+kind+" "+name+"…", actionTimeout, func(ctx context.Context) (string, error) {
			if err := do(ctx, c); err != nil {
				return "", err
			}
			return "Deleted " + kind + " " + name, nil
		}), nil
	}
	return m.openForm(f)
}

func (m *Model) createAppForm() tea.Cmd {
	if m.cfg.Pack == nil {
		m.setStatus("create apps with: gasper app create NAME --from DIR", false)
		return nil
	}
	c, pack := m.cfg.Client, m.cfg.Pack
	f := &form{title: "Create an app from a directory",
		text: []string{"The directory is packed (honouring .gitignore and .gasperignore), uploaded and built."},
		fields: []*field{
			textField("Name", "lowercase letters, digits and dashes", ""),
			textField("Directory", "a path on this machine", "."),
			choiceField("Runtime", "←/→ to choose; auto detects it from the source", append([]string{"auto"}, api.Runtimes...)),
		}}
	f.submit = func(vs []string) (tea.Cmd, error) {
		name, dir, runtime := vs[0], vs[1], vs[2]
		if err := api.ValidName("app", name); err != nil {
			return nil, err
		}
		if dir == "" {
			return nil, errors.New("give a directory to deploy")
		}
		if runtime == "auto" {
			runtime = ""
		}
		return m.run("Creating "+name+" from "+dir+"…", uploadTimeout, func(ctx context.Context) (string, error) {
			// Pack before creating: a directory that cannot be deployed
			// must not leave an empty app behind.
			archive, done, err := pack(dir)
			if err != nil {
				return "", err
			}
			defer done()
			if _, err := c.CreateApp(ctx, api.CreateAppRequest{Name: name, AppConfig: api.AppConfig{Runtime: runtime}}); err != nil {
				return "", err
			}
			r, err := c.UploadSource(ctx, name, archive)
			if err != nil {
				return "", fmt.Errorf("app %s was created but its source was not uploaded: %w", name, err)
			}
			return fmt.Sprintf("Created %s; building release %d", name, r.Number), nil
		}), nil
	}
	return m.openForm(f)
}

func (m *Model) createDBForm() tea.Cmd {
	c := m.cfg.Client
	f := &form{title: "Create a database",
		fields: []*field{
			textField("Name", "lowercase letters, digits and dashes", ""),
			choiceField("Engine", "←/→ to choose", slices.Clone(api.Engines)),
			textField("Memory", "like 256M or 1G; empty: the master's default", ""),
		}}
	f.submit = func(vs []string) (tea.Cmd, error) {
		req := api.CreateDatabaseRequest{Name: vs[0], Engine: vs[1]}
		if err := api.ValidName("database", req.Name); err != nil {
			return nil, err
		}
		if vs[2] != "" {
			n, err := api.ParseSize(vs[2])
			if err != nil {
				return nil, fmt.Errorf("memory: %w", err)
			}
			req.MemoryBytes = n
		}
		return m.run("Creating database "+req.Name+"…", actionTimeout, func(ctx context.Context) (string, error) {
			d, err := c.CreateDatabase(ctx, req)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("Created %s database %s (%s); its password: gasper db info %s --show-password", d.Engine, d.Name, d.Status, d.Name), nil
		}), nil
	}
	return m.openForm(f)
}

// scaleForm asks how many replicas of an app should run.
func (m *Model) scaleForm(app string) tea.Cmd {
	c := m.cfg.Client
	now := "1"
	if a := m.findApp(app); a != nil {
		now = strconv.Itoa(a.Replicas)
	}
	f := &form{title: "Scale " + app,
		text:   []string{"Replicas go on different nodes when there are enough; 0 stops the app."},
		fields: []*field{textField("Replicas", "0 to 100", now)}}
	f.submit = func(vs []string) (tea.Cmd, error) {
		n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
		if err != nil || n < 0 || n > 100 {
			return nil, fmt.Errorf("replicas %q: type a number from 0 to 100", vs[0])
		}
		return m.run(fmt.Sprintf("Scaling %s to %d…", app, n), actionTimeout, func(ctx context.Context) (string, error) {
			a, err := c.Scale(ctx, app, n)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("Scaling %s to %d replicas (%d running)", app, a.Replicas, a.Running), nil
		}), nil
	}
	return m.openForm(f)
}

func (m *Model) linkForm(db string) tea.Cmd {
	c := m.cfg.Client
	var names []string
	for _, a := range m.apps {
		names = append(names, a.Name)
	}
	f := &form{title: "Link database " + db + " to an app",
		text:   []string{"The app gets the database's URL in its environment (a new release rolls it out)."},
		fields: []*field{textField("App", "one of: "+strings.Join(names, ", "), "")}}
	f.submit = func(vs []string) (tea.Cmd, error) {
		app := vs[0]
		if !slices.Contains(names, app) {
			return nil, fmt.Errorf("no app %q here; type one of the names above", app)
		}
		return m.run("Linking "+db+" to "+app+"…", actionTimeout, func(ctx context.Context) (string, error) {
			if _, err := c.LinkDatabase(ctx, db, app); err != nil {
				return "", err
			}
			return "Linked " + db + " to " + app, nil
		}), nil
	}
	return m.openForm(f)
}

func (m *Model) unlinkForm(db string) tea.Cmd {
	d := m.findDB(db)
	if d == nil || len(d.Links) == 0 {
		m.setStatus(db+" is linked to no app", false)
		return nil
	}
	c := m.cfg.Client
	f := &form{title: "Unlink database " + db + " from an app",
		text:   []string{"The app loses the database's URL (a new release rolls it out)."},
		fields: []*field{choiceField("App", "←/→ to choose", slices.Clone(d.Links))}}
	f.submit = func(vs []string) (tea.Cmd, error) {
		app := vs[0]
		return m.run("Unlinking "+db+" from "+app+"…", actionTimeout, func(ctx context.Context) (string, error) {
			if err := c.UnlinkDatabase(ctx, db, app); err != nil {
				return "", err
			}
			return "Unlinked " + db + " from " + app, nil
		}), nil
	}
	return m.openForm(f)
}

// helpKeys are the keys that apply where the user is.
func (m *Model) helpKeys() helpKeys {
	k := m.keys
	nav := []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
	general := []key.Binding{k.Back, k.Help, k.Quit}
	if m.form != nil {
		return helpKeys{}
	}
	switch m.mode {
	case modeLogs:
		keys := []key.Binding{k.Back, k.Search, k.Follow, k.Up, k.Down}
		return helpKeys{short: keys, full: [][]key.Binding{{k.Search, k.Follow}, nav, general}}
	case modeDetail:
		acts := m.actionBindings(false)
		return helpKeys{short: append([]key.Binding{k.Back}, acts...),
			full: [][]key.Binding{acts, nav, general}}
	}
	acts := m.actionBindings(true)
	tabs := []key.Binding{k.NextTab, k.Tab1}
	list := []key.Binding{k.Open, k.Filter, k.Sort, k.Reverse}
	// Most used first: what does not fit the bar is left out from the end.
	short := []key.Binding{k.Open}
	for _, b := range []key.Binding{k.Logs, k.Restart, k.New, k.Delete, k.Link, k.Unlink} {
		if slices.ContainsFunc(acts, func(a key.Binding) bool { return a.Help() == b.Help() }) {
			short = append(short, b)
		}
	}
	short = append(short, k.Filter)
	for _, b := range []key.Binding{k.Rebuild, k.Rollback} {
		if slices.ContainsFunc(acts, func(a key.Binding) bool { return a.Help() == b.Help() }) {
			short = append(short, b)
		}
	}
	short = append(short, k.NextTab)
	return helpKeys{short: short, full: [][]key.Binding{list, acts, tabs, nav, general}}
}

// actionBindings are the actions of the current tab.
func (m *Model) actionBindings(list bool) []key.Binding {
	k := m.keys
	var out []key.Binding
	switch m.tab {
	case tabApps:
		out = []key.Binding{k.Logs, k.Restart, k.Scale, k.Rebuild, k.Rollback, k.Delete}
		if list && m.cfg.Pack != nil {
			out = append([]key.Binding{k.New}, out...)
		}
	case tabDBs:
		out = []key.Binding{k.Link, k.Unlink, k.Delete}
		if list {
			out = append([]key.Binding{k.New}, out...)
		}
	case tabNodes:
		out = []key.Binding{k.Cordon, k.Drain, k.Delete}
	}
	return out
}
