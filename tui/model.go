package tui

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"gasper/api"
)

// Config configures the dashboard.
type Config struct {
	// Client talks to the master.
	Client Client
	// Pack packs a directory for "create app"; nil hides that action.
	Pack Packer
	// Master is the master's URL, shown in the title line.
	Master string
	// Interval is how often the lists are fetched again; 0 means 2s.
	Interval time.Duration
	// LogTail is how many earlier lines the log view starts with; 0 means 200.
	LogTail int
	// NoColor draws without colours or attributes (NO_COLOR); the
	// renderer otherwise decides from the terminal.
	NoColor bool
	// Now is the clock for "5m ago"; nil means time.Now.
	Now func() time.Time
	// Context bounds every call to the master; nil means Background.
	Context context.Context
}

type tab int

const (
	tabApps tab = iota
	tabDBs
	tabNodes
	tabUsers
)

var tabNames = [...]string{"Apps", "Databases", "Nodes", "Users"}

type mode int

const (
	modeList mode = iota
	modeDetail
	modeLogs
)

// Model is the dashboard: a tea.Model. Make one with New.
type Model struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	now    func() time.Time
	keys   keyMap
	st     styles

	width, height int

	me    *api.User
	meErr error

	tab    tab
	mode   mode
	tables [4]*table

	apps  []api.App
	dbs   []api.Database
	nodes []api.Node
	users []api.User
	// errs is each list's last fetch error; loaded tells which came once.
	errs     [4]error
	loaded   [4]bool
	inflight [4]bool

	// detail is the name (or id) of the item the detail view shows.
	detail       string
	releases     []api.Release
	releasesFor  string
	releasesBusy bool
	detailView   viewport.Model
	// detailBottom keeps the detail scrolled to its end (G) as it grows.
	detailBottom bool

	logs *logView

	filtering bool
	filterIn  textinput.Model

	form *form

	status    string
	statusBad bool
	busy      string
	spin      spinner.Model
	help      help.Model
	fullHelp  bool
}

// New returns the dashboard for cfg.
func New(cfg Config) *Model {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.LogTail <= 0 {
		cfg.LogTail = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	r := lipgloss.NewRenderer(os.Stdout)
	if cfg.NoColor {
		r.SetColorProfile(termenv.Ascii)
	}
	ctx, cancel := context.WithCancel(cfg.Context)
	m := &Model{cfg: cfg, ctx: ctx, cancel: cancel, now: cfg.Now, keys: newKeyMap(), st: newStyles(r),
		width: 80, height: 24}
	m.tables[tabApps] = newTable(
		column{title: "NAME", min: 8, max: 30},
		column{title: "STATUS", min: 7, max: 12, state: true},
		column{title: "REL", min: 3, max: 5, numeric: true, drop: 3},
		column{title: "RUNTIME", min: 6, max: 8, drop: 4},
		column{title: "INST", min: 4, max: 6, drop: 2},
		column{title: "URL", min: 10, max: 48, drop: 6},
		column{title: "UPDATED", min: 7, max: 9, drop: 5},
	)
	m.tables[tabDBs] = newTable(
		column{title: "NAME", min: 8, max: 30},
		column{title: "ENGINE", min: 5, max: 10},
		column{title: "STATUS", min: 7, max: 12, state: true},
		column{title: "NODE", min: 6, max: 20, drop: 4},
		column{title: "LINKED", min: 6, max: 30, drop: 3},
		column{title: "HOST", min: 10, max: 40, drop: 6},
		column{title: "CREATED", min: 7, max: 9, drop: 5},
	)
	m.tables[tabNodes] = newTable(
		column{title: "HOSTNAME", min: 8, max: 24},
		column{title: "STATE", min: 5, max: 10, state: true},
		column{title: "ROLES", min: 6, max: 22, drop: 4},
		column{title: "CPU", min: 4, max: 6, numeric: true, drop: 2},
		column{title: "MEMORY", min: 9, max: 19, drop: 3},
		column{title: "ADVERTISE", min: 9, max: 21, drop: 6},
		column{title: "SEEN", min: 4, max: 9, drop: 5},
	)
	m.tables[tabUsers] = newTable(
		column{title: "EMAIL", min: 10, max: 40},
		column{title: "ADMIN", min: 5, max: 5},
		column{title: "APPS", min: 4, max: 5, numeric: true, drop: 2},
		column{title: "CREATED", min: 7, max: 9, drop: 3},
		column{title: "ID", min: 6, max: 36, drop: 6},
	)
	m.spin = spinner.New(spinner.WithSpinner(spinner.Dot))
	m.help = help.New()
	m.help.Styles.ShortKey = m.st.title.UnsetForeground().Bold(true)
	m.help.Styles.ShortDesc = m.st.dim
	m.help.Styles.ShortSeparator = m.st.dim
	m.help.Styles.FullKey = m.help.Styles.ShortKey
	m.help.Styles.FullDesc = m.st.dim
	m.help.Styles.FullSeparator = m.st.dim
	m.help.Styles.Ellipsis = m.st.dim
	m.filterIn = textinput.New()
	m.filterIn.Prompt = "/"
	m.detailView = viewport.New(80, 10)
	return m
}

// Messages.
type (
	tickMsg struct{}
	whoMsg  struct {
		u   *api.User
		err error
	}
	appsMsg struct {
		v   []api.App
		err error
	}
	dbsMsg struct {
		v   []api.Database
		err error
	}
	nodesMsg struct {
		v   []api.Node
		err error
	}
	usersMsg struct {
		v   []api.User
		err error
	}
	releasesMsg struct {
		app string
		v   []api.Release
		err error
	}
	// doneMsg ends an action: ok is said on success.
	doneMsg struct {
		ok  string
		err error
	}
)

// Init fetches who the user is and the lists, and starts the clock.
func (m *Model) Init() tea.Cmd {
	c := m.cfg.Client
	ctx := m.ctx
	who := func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		u, err := c.WhoAmI(ctx)
		return whoMsg{u, err}
	}
	return tea.Batch(who, m.fetch(tabApps), m.fetch(tabDBs), m.tick())
}

// callTimeout bounds one list or detail call.
const callTimeout = 15 * time.Second

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.cfg.Interval, func(time.Time) tea.Msg { return tickMsg{} })
}

// fetch asks for one list, unless that is already under way.
func (m *Model) fetch(t tab) tea.Cmd {
	if m.inflight[t] {
		return nil
	}
	m.inflight[t] = true
	c, ctx := m.cfg.Client, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		switch t {
		case tabApps:
			v, err := c.Apps(ctx)
			return appsMsg{v, err}
		case tabDBs:
			v, err := c.Databases(ctx)
			return dbsMsg{v, err}
		case tabNodes:
			v, err := c.Nodes(ctx)
			return nodesMsg{v, err}
		default:
			v, err := c.Users(ctx)
			return usersMsg{v, err}
		}
	}
}

// refresh fetches what the screen shows: the apps and databases always
// (their counts are on the tabs, and details cross-reference them), nodes
// for admins, users only while their tab is open.
func (m *Model) refresh() tea.Cmd {
	cmds := []tea.Cmd{m.fetch(tabApps), m.fetch(tabDBs)}
	if m.admin() {
		cmds = append(cmds, m.fetch(tabNodes))
		if m.tab == tabUsers {
			cmds = append(cmds, m.fetch(tabUsers))
		}
	}
	if m.mode == modeDetail && m.tab == tabApps {
		cmds = append(cmds, m.fetchReleases(m.detail))
	}
	return tea.Batch(cmds...)
}

func (m *Model) fetchReleases(app string) tea.Cmd {
	if m.releasesBusy || app == "" {
		return nil
	}
	m.releasesBusy = true
	c, ctx := m.cfg.Client, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		v, err := c.Releases(ctx, app)
		return releasesMsg{app, v, err}
	}
}

func (m *Model) admin() bool { return m.me != nil && m.me.Admin }

// tabs are the tabs this user sees: nodes and users are for admins.
func (m *Model) tabs() []tab {
	if m.admin() {
		return []tab{tabApps, tabDBs, tabNodes, tabUsers}
	}
	return []tab{tabApps, tabDBs}
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tickMsg:
		return m, tea.Batch(m.refresh(), m.tick())
	case whoMsg:
		m.me, m.meErr = msg.u, msg.err
		if m.admin() {
			return m, tea.Batch(m.fetch(tabNodes), m.fetch(tabUsers))
		}
		return m, nil
	case appsMsg:
		m.inflight[tabApps] = false
		m.gotList(tabApps, msg.err, func() { m.apps = msg.v })
		return m, nil
	case dbsMsg:
		m.inflight[tabDBs] = false
		m.gotList(tabDBs, msg.err, func() { m.dbs = msg.v })
		return m, nil
	case nodesMsg:
		m.inflight[tabNodes] = false
		m.gotList(tabNodes, msg.err, func() { m.nodes = msg.v })
		return m, nil
	case usersMsg:
		m.inflight[tabUsers] = false
		m.gotList(tabUsers, msg.err, func() { m.users = msg.v })
		return m, nil
	case releasesMsg:
		m.releasesBusy = false
		if msg.err == nil {
			m.releases, m.releasesFor = msg.v, msg.app
			m.updateDetail()
		}
		return m, nil
	case doneMsg:
		m.busy = ""
		if msg.err != nil {
			m.setStatus(msg.err.Error(), true)
		} else {
			m.setStatus(msg.ok, false)
		}
		return m, m.refresh()
	case spinner.TickMsg:
		if m.busy == "" {
			return m, nil // let the spinner stop while nothing runs
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case logOpenedMsg, logLinesMsg:
		if m.logs == nil {
			return m, nil
		}
		return m, m.logs.update(m, msg)
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, nil
}

// gotList stores a list answer and rebuilds its table and what shows it.
func (m *Model) gotList(t tab, err error, set func()) {
	m.errs[t] = err
	if err != nil {
		return
	}
	set()
	m.loaded[t] = true
	m.rebuild(t)
	if m.mode == modeDetail {
		m.updateDetail()
	}
}

func (m *Model) setStatus(s string, bad bool) {
	m.status, m.statusBad = s, bad
}

// key handles a key press: a form or filter gets it first, then the view.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	if m.form != nil {
		return m.form.key(m, msg)
	}
	if m.filtering {
		return m.filterKey(msg)
	}
	if m.mode == modeLogs && m.logs != nil {
		if cmd, handled := m.logs.key(m, msg); handled {
			return cmd
		}
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.fullHelp = !m.fullHelp
		m.layout()
		return nil
	case key.Matches(msg, k.Back):
		return m.back()
	}
	if m.mode == modeList {
		if cmd, ok := m.switchTab(msg); ok {
			return cmd
		}
	}
	switch m.mode {
	case modeList:
		return m.listKey(msg)
	case modeDetail:
		return m.detailKey(msg)
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	if m.logs != nil {
		m.logs.stop()
	}
	m.cancel()
	return tea.Quit
}

// back leaves the logs for the detail, the detail for the list, and
// clears a filter on the list.
func (m *Model) back() tea.Cmd {
	switch m.mode {
	case modeLogs:
		m.logs.stop()
		m.logs = nil
		m.mode = modeDetail
		m.updateDetail()
	case modeDetail:
		m.mode = modeList
		m.detail = ""
	case modeList:
		if t := m.tables[m.tab]; t.filter != "" {
			t.setFilter("")
			m.filterIn.SetValue("")
		}
	}
	m.layout()
	return nil
}

func (m *Model) switchTab(msg tea.KeyMsg) (tea.Cmd, bool) {
	tabs := m.tabs()
	at := 0
	for i, t := range tabs {
		if t == m.tab {
			at = i
		}
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.NextTab):
		at = (at + 1) % len(tabs)
	case key.Matches(msg, k.PrevTab):
		at = (at + len(tabs) - 1) % len(tabs)
	case key.Matches(msg, k.Tab1, k.Tab2, k.Tab3, k.Tab4):
		n := int(msg.Runes[0] - '1')
		if n >= len(tabs) {
			return nil, true
		}
		at = n
	default:
		return nil, false
	}
	m.tab = tabs[at]
	m.filterIn.SetValue(m.tables[m.tab].filter)
	m.status = ""
	if m.tab == tabUsers || !m.loaded[m.tab] {
		return m.fetch(m.tab), true
	}
	return nil, true
}

func (m *Model) listKey(msg tea.KeyMsg) tea.Cmd {
	t := m.tables[m.tab]
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		t.move(-1)
	case key.Matches(msg, k.Down):
		t.move(1)
	case key.Matches(msg, k.PageUp):
		t.move(-m.bodyHeight())
	case key.Matches(msg, k.PageDown):
		t.move(m.bodyHeight())
	case key.Matches(msg, k.Top):
		t.home()
	case key.Matches(msg, k.Bottom):
		t.end()
	case key.Matches(msg, k.Sort):
		t.cycleSort(false)
	case key.Matches(msg, k.Reverse):
		t.cycleSort(true)
	case key.Matches(msg, k.Filter):
		m.filtering = true
		m.filterIn.SetValue(t.filter)
		m.filterIn.CursorEnd()
		return m.filterIn.Focus()
	case key.Matches(msg, k.Open):
		if r, ok := t.selected(); ok {
			m.mode, m.detail = modeDetail, r.key
			m.detailView.GotoTop()
			m.detailBottom = false
			m.layout()
			m.updateDetail()
			if m.tab == tabApps {
				m.releases = nil
				return m.fetchReleases(r.key)
			}
		}
	default:
		return m.actionKey(msg, m.selectedName())
	}
	return nil
}

func (m *Model) detailKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		m.detailBottom = false
		m.detailView.ScrollUp(1)
	case key.Matches(msg, k.Down):
		m.detailView.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		m.detailBottom = false
		m.detailView.PageUp()
	case key.Matches(msg, k.PageDown):
		m.detailView.PageDown()
	case key.Matches(msg, k.Top):
		m.detailBottom = false
		m.detailView.GotoTop()
	case key.Matches(msg, k.Bottom):
		m.detailBottom = true
		m.detailView.GotoBottom()
	default:
		return m.actionKey(msg, m.detail)
	}
	return nil
}

// selectedName is the name (nodes: id) of the selected row.
func (m *Model) selectedName() string {
	r, _ := m.tables[m.tab].selected()
	return r.key
}

func (m *Model) filterKey(msg tea.KeyMsg) tea.Cmd {
	switch msg.String() {
	case "esc":
		m.filtering = false
		m.filterIn.Blur()
		m.filterIn.SetValue("")
		m.tables[m.tab].setFilter("")
		return nil
	case "enter":
		m.filtering = false
		m.filterIn.Blur()
		return nil
	}
	var cmd tea.Cmd
	m.filterIn, cmd = m.filterIn.Update(msg)
	m.tables[m.tab].setFilter(m.filterIn.Value())
	return cmd
}

// layout sizes the scrolling views to the terminal.
func (m *Model) layout() {
	h := m.bodyHeight()
	m.detailView.Width, m.detailView.Height = m.width, h
	if m.logs != nil {
		m.logs.resize(m.width, h-1)
	}
	m.help.Width = m.width
}

// bodyHeight is what is left between the title and tab lines above and the
// status and help lines below.
func (m *Model) bodyHeight() int {
	return max(m.height-2-1-m.helpHeight(), 1)
}

func (m *Model) helpHeight() int {
	if !m.fullHelp {
		return 1
	}
	return lipgloss.Height(m.help.FullHelpView(m.helpKeys().FullHelp()))
}

// View draws the whole screen, exactly width x height.
func (m *Model) View() string {
	var lines []string
	lines = append(lines, m.titleLine(), m.tabLine())
	body := m.body()
	bh := m.bodyHeight()
	if len(body) > bh {
		body = body[:bh]
	}
	for len(body) < bh {
		body = append(body, "")
	}
	lines = append(lines, body...)
	lines = append(lines, m.statusLine())
	if m.fullHelp {
		lines = append(lines, strings.Split(m.help.FullHelpView(m.helpKeys().FullHelp()), "\n")...)
	} else {
		lines = append(lines, m.shortHelp())
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > m.width {
			lines[i] = ansi.Truncate(l, m.width, "…")
		}
	}
	return strings.Join(lines, "\n")
}

// shortHelp is the one-line help bar: as many of the keys that apply as
// fit, always ending with help and quit.
func (m *Model) shortHelp() string {
	keys := m.helpKeys().ShortHelp()
	if len(keys) == 0 {
		return ""
	}
	tail := []key.Binding{m.keys.Help, m.keys.Quit}
	var lead []key.Binding
	for _, k := range keys {
		if k.Help() != m.keys.Help.Help() && k.Help() != m.keys.Quit.Help() {
			lead = append(lead, k)
		}
	}
	h := m.help
	h.Width = 0 // measured here: help's own cut would drop help and quit
	for n := len(lead); n > 0; n-- {
		if s := h.ShortHelpView(append(lead[:n:n], tail...)); ansi.StringWidth(s) <= m.width {
			return s
		}
	}
	return h.ShortHelpView(tail)
}

func (m *Model) titleLine() string {
	who := "…"
	switch {
	case m.me != nil && m.me.Admin:
		who = m.me.Email + " (admin)"
	case m.me != nil:
		who = m.me.Email
	case m.meErr != nil:
		who = "not signed in: " + m.meErr.Error()
	}
	left := m.st.title.Render("Gasper") + "  " + who
	right := m.st.dim.Render(m.cfg.Master)
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 2 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m *Model) tabLine() string {
	var parts []string
	for i, t := range m.tabs() {
		label := fmt.Sprintf("%d %s", i+1, tabNames[t])
		if m.loaded[t] {
			label += fmt.Sprintf(" (%d)", m.count(t))
		}
		if t == m.tab {
			parts = append(parts, m.st.tabActive.Render("["+label+"]"))
		} else {
			parts = append(parts, m.st.tabOther.Render(" "+label+" "))
		}
	}
	line := strings.Join(parts, " ")
	switch m.mode {
	case modeDetail:
		line += m.st.dim.Render("  › " + m.detailTitle())
	case modeLogs:
		line += m.st.dim.Render("  › " + m.detailTitle() + " › logs")
	}
	return line
}

func (m *Model) count(t tab) int {
	switch t {
	case tabApps:
		return len(m.apps)
	case tabDBs:
		return len(m.dbs)
	case tabNodes:
		return len(m.nodes)
	}
	return len(m.users)
}

func (m *Model) body() []string {
	if m.form != nil {
		return m.form.view(m)
	}
	switch m.mode {
	case modeDetail:
		return strings.Split(m.detailView.View(), "\n")
	case modeLogs:
		return m.logs.view(m)
	}
	t := m.tables[m.tab]
	if err := m.errs[m.tab]; err != nil && !m.loaded[m.tab] {
		return []string{"", "  " + m.st.errText.Render("Cannot list "+strings.ToLower(tabNames[m.tab])+": "+err.Error())}
	}
	if !m.loaded[m.tab] {
		return []string{"", "  Loading…"}
	}
	if len(t.rows) == 0 {
		return []string{"", "  " + m.emptyText()}
	}
	lines := t.render(m.st, m.width, m.bodyHeight())
	if len(t.view) == 0 {
		lines = append(lines, "", "  No "+strings.ToLower(tabNames[m.tab])+" match "+fmt.Sprintf("%q", t.filter)+"; esc clears the filter.")
	}
	return lines
}

func (m *Model) emptyText() string {
	switch m.tab {
	case tabApps:
		if m.cfg.Pack != nil {
			return "No apps yet. Press n to create one from a directory."
		}
		return "No apps yet; create one with: gasper app create NAME --from DIR"
	case tabDBs:
		return "No databases yet. Press n to create one."
	case tabNodes:
		return "No nodes yet; add one with: gasper node token, then gasper-agent join."
	}
	return "No users."
}

func (m *Model) statusLine() string {
	switch {
	case m.filtering:
		return m.filterIn.View()
	case m.busy != "":
		return m.spin.View() + " " + m.busy
	case m.status != "" && m.statusBad:
		return m.st.errText.Render("error: " + m.status)
	case m.status != "":
		return m.status
	}
	if err := m.errs[m.tab]; err != nil && m.loaded[m.tab] {
		return m.st.errText.Render("refresh failed: " + err.Error())
	}
	if t := m.tables[m.tab]; m.mode == modeList && t.filter != "" {
		return m.st.dim.Render(fmt.Sprintf("filter %q: %d of %d", t.filter, len(t.view), len(t.rows)))
	}
	return ""
}
