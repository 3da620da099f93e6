package tui

import (
	"sort"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// column describes one table column.
type column struct {
	title string
	// max caps the column's width (0: none); min is how far a too-wide
	// table may shrink it.
	min, max int
	// drop orders which columns go first on a narrow terminal: higher goes
	// first; 0 never goes.
	drop int
	// state colours the cell as a status word.
	state bool
	// numeric sorts by number rather than text.
	numeric bool
}

// row is one line of a table; key identifies it across refreshes.
type row struct {
	key   string
	cells []string
	// sort holds per-column sort keys where the cell text does not sort
	// right ("5m ago"); empty entries fall back to the cell.
	sort []string
}

// table holds rows with a cursor, a sort order and a filter; it keeps the
// selected row selected (by key) while rows are replaced by a refresh.
type table struct {
	cols    []column
	rows    []row
	view    []int // indices into rows, filtered and sorted
	cursor  int   // index into view
	offset  int   // first shown index into view
	sortCol int
	desc    bool
	filter  string
}

func newTable(cols ...column) *table { return &table{cols: cols} }

// setRows replaces the rows, keeping the selection on the same key.
func (t *table) setRows(rows []row) {
	key := t.selectedKey()
	t.rows = rows
	t.refresh(key)
}

// selectedKey is the key of the row under the cursor, "" when empty.
func (t *table) selectedKey() string {
	if t.cursor < 0 || t.cursor >= len(t.view) {
		return ""
	}
	return t.rows[t.view[t.cursor]].key
}

// selected is the row under the cursor.
func (t *table) selected() (row, bool) {
	if t.cursor < 0 || t.cursor >= len(t.view) {
		return row{}, false
	}
	return t.rows[t.view[t.cursor]], true
}

// refresh recomputes the view and puts the cursor on key when it is there.
func (t *table) refresh(key string) {
	t.view = t.view[:0]
	f := strings.ToLower(t.filter)
	for i, r := range t.rows {
		if f == "" || strings.Contains(strings.ToLower(strings.Join(r.cells, " ")), f) {
			t.view = append(t.view, i)
		}
	}
	sort.SliceStable(t.view, func(a, b int) bool {
		less := t.less(t.rows[t.view[a]], t.rows[t.view[b]])
		if t.desc {
			return t.less(t.rows[t.view[b]], t.rows[t.view[a]])
		}
		return less
	})
	for i, vi := range t.view {
		if key != "" && t.rows[vi].key == key {
			t.cursor = i
			return
		}
	}
	t.cursor = min(max(t.cursor, 0), max(len(t.view)-1, 0))
}

func (t *table) less(a, b row) bool {
	c := t.sortCol
	ka, kb := sortKey(a, c), sortKey(b, c)
	if t.cols[c].numeric {
		na, ea := strconv.ParseFloat(ka, 64)
		nb, eb := strconv.ParseFloat(kb, 64)
		if ea == nil && eb == nil && na != nb {
			return na < nb
		}
	}
	if ka != kb {
		return ka < kb
	}
	return a.key < b.key
}

func sortKey(r row, c int) string {
	if c < len(r.sort) && r.sort[c] != "" {
		return r.sort[c]
	}
	if c < len(r.cells) {
		return r.cells[c]
	}
	return ""
}

// setFilter shows only rows containing f (case-insensitive).
func (t *table) setFilter(f string) {
	key := t.selectedKey()
	t.filter = f
	t.refresh(key)
}

// cycleSort sorts by the next column; reverse flips the order instead.
func (t *table) cycleSort(reverse bool) {
	key := t.selectedKey()
	if reverse {
		t.desc = !t.desc
	} else {
		t.sortCol = (t.sortCol + 1) % len(t.cols)
		t.desc = false
	}
	t.refresh(key)
}

func (t *table) move(delta int) {
	t.cursor = min(max(t.cursor+delta, 0), max(len(t.view)-1, 0))
}

func (t *table) home() { t.cursor = 0 }
func (t *table) end()  { t.cursor = max(len(t.view)-1, 0) }

// render draws the table in width x height (header included).
func (t *table) render(st styles, width, height int) []string {
	if height < 1 {
		return nil
	}
	shown := t.fit(width - 2) // 2: the selection marker
	widths := t.widths(shown, width-2)
	var cells []string
	for i, c := range shown {
		title := t.cols[c].title
		if c == t.sortCol {
			if t.desc {
				title += " ↓"
			} else {
				title += " ↑"
			}
		}
		cells = append(cells, pad(title, widths[i]))
	}
	lines := []string{"  " + st.header.Render(strings.TrimRight(strings.Join(cells, "  "), " "))}

	rowsRoom := height - 1
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if t.cursor >= t.offset+rowsRoom {
		t.offset = t.cursor - rowsRoom + 1
	}
	t.offset = max(0, min(t.offset, len(t.view)-rowsRoom))
	for i := t.offset; i < len(t.view) && i < t.offset+rowsRoom; i++ {
		r := t.rows[t.view[i]]
		sel := i == t.cursor
		var parts []string
		for j, c := range shown {
			v := ""
			if c < len(r.cells) {
				v = r.cells[c]
			}
			v = pad(v, widths[j])
			if !sel && t.cols[c].state {
				v = st.state(strings.TrimSpace(v)).Render(v)
			}
			parts = append(parts, v)
		}
		line := strings.TrimRight(strings.Join(parts, "  "), " ")
		if sel {
			lines = append(lines, "> "+st.selected.Render(line))
		} else {
			lines = append(lines, "  "+line)
		}
	}
	return lines
}

// natural is the width column c wants: its widest cell or title, capped.
func (t *table) natural(c int) int {
	w := ansi.StringWidth(t.cols[c].title)
	if c == t.sortCol {
		w += 2 // the sort arrow
	}
	for _, vi := range t.view {
		r := t.rows[vi]
		if c < len(r.cells) {
			w = max(w, ansi.StringWidth(r.cells[c]))
		}
	}
	if t.cols[c].max > 0 {
		w = min(w, t.cols[c].max)
	}
	return w
}

// fit chooses the columns that fit in width, dropping the most droppable
// first.
func (t *table) fit(width int) []int {
	shown := make([]int, len(t.cols))
	for i := range shown {
		shown[i] = i
	}
	total := func(cols []int, minimal bool) int {
		sum := 0
		for _, c := range cols {
			if minimal {
				sum += min(t.cols[c].min, t.natural(c))
			} else {
				sum += t.natural(c)
			}
		}
		return sum + 2*(len(cols)-1)
	}
	for total(shown, true) > width {
		worst, at := 0, -1
		for i, c := range shown {
			if t.cols[c].drop > worst {
				worst, at = t.cols[c].drop, i
			}
		}
		if at < 0 {
			break
		}
		shown = append(shown[:at:at], shown[at+1:]...)
	}
	// Prefer dropping an optional column to squeezing the others.
	for total(shown, false) > width {
		worst, at := 0, -1
		for i, c := range shown {
			if t.cols[c].drop > worst {
				worst, at = t.cols[c].drop, i
			}
		}
		if at < 0 || worst < 5 {
			break
		}
		shown = append(shown[:at:at], shown[at+1:]...)
	}
	return shown
}

// widths gives each shown column its natural width, shrinking the widest
// ones (not below their min) while the total is over width.
func (t *table) widths(shown []int, width int) []int {
	ws := make([]int, len(shown))
	sum := 2 * (len(shown) - 1)
	for i, c := range shown {
		ws[i] = t.natural(c)
		sum += ws[i]
	}
	for sum > width {
		at := -1
		for i, c := range shown {
			if ws[i] > t.cols[c].min && (at < 0 || ws[i] > ws[at]) {
				at = i
			}
		}
		if at < 0 {
			break
		}
		ws[at]--
		sum--
	}
	return ws
}

// pad fits s into exactly w cells, cutting it with an ellipsis.
func pad(s string, w int) string {
	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}
