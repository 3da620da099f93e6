package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every key the dashboard answers to; the help bar shows the
// ones that apply where the user is.
type keyMap struct {
	Up, Down, Top, Bottom, PageUp, PageDown  key.Binding
	NextTab, PrevTab, Tab1, Tab2, Tab3, Tab4 key.Binding
	Open, Back, Quit, Help                   key.Binding
	Filter, Sort, Reverse                    key.Binding

	Logs, New, Restart, Rebuild, Rollback, Delete key.Binding
	Scale                                         key.Binding
	Link, Unlink                                  key.Binding
	Cordon, Drain                                 key.Binding

	Search, Follow key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, help, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		Top:      b([]string{"home", "g"}, "g", "top"),
		Bottom:   b([]string{"end", "G"}, "G", "bottom"),
		PageUp:   b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+d", " "}, "pgdn", "page down"),
		NextTab:  b([]string{"tab", "right"}, "tab", "next tab"),
		PrevTab:  b([]string{"shift+tab", "left"}, "shift+tab", "previous tab"),
		Tab1:     b([]string{"1"}, "1-4", "go to tab"),
		Tab2:     b([]string{"2"}, "2", "databases"),
		Tab3:     b([]string{"3"}, "3", "nodes"),
		Tab4:     b([]string{"4"}, "4", "users"),
		Open:     b([]string{"enter"}, "enter", "open"),
		Back:     b([]string{"esc", "backspace"}, "esc", "back"),
		Quit:     b([]string{"q", "ctrl+c"}, "q", "quit"),
		Help:     b([]string{"?"}, "?", "more keys"),
		Filter:   b([]string{"/"}, "/", "filter"),
		Sort:     b([]string{"s"}, "s", "sort"),
		Reverse:  b([]string{"S"}, "S", "reverse"),
		Logs:     b([]string{"l"}, "l", "logs"),
		New:      b([]string{"n"}, "n", "new"),
		Restart:  b([]string{"r"}, "r", "restart"),
		Rebuild:  b([]string{"b"}, "b", "rebuild"),
		Rollback: b([]string{"u"}, "u", "roll back"),
		Scale:    b([]string{"+"}, "+", "scale"), // s sorts
		Delete:   b([]string{"d", "delete"}, "d", "delete"),
		Link:     b([]string{"a"}, "a", "link app"),
		Unlink:   b([]string{"x"}, "x", "unlink app"),
		Cordon:   b([]string{"c"}, "c", "cordon/uncordon"),
		Drain:    b([]string{"D"}, "D", "drain"),
		Search:   b([]string{"/"}, "/", "search"),
		Follow:   b([]string{"f"}, "f", "follow"),
	}
}

// helpKeys implements help.KeyMap for one place in the dashboard.
type helpKeys struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding  { return h.short }
func (h helpKeys) FullHelp() [][]key.Binding { return h.full }
