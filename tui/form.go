package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// field is one input of a form: free text, or a choice among options
// (cycled with ←/→).
type field struct {
	label   string
	hint    string
	in      textinput.Model
	options []string
	opt     int
}

func (f *field) value() string {
	if f.options != nil {
		return f.options[f.opt]
	}
	return strings.TrimSpace(f.in.Value())
}

// form is a modal over the body: a question answered with y/n, or fields
// submitted with enter. submit checks the values and returns the action to
// run, or an error shown in the form.
type form struct {
	title  string
	text   []string
	fields []*field
	focus  int
	yesNo  bool
	err    string
	submit func(vals []string) (tea.Cmd, error)
}

func textField(label, hint, value string) *field {
	in := textinput.New()
	in.Prompt = ""
	in.SetValue(value)
	in.CharLimit = 256
	return &field{label: label, hint: hint, in: in}
}

func choiceField(label, hint string, options []string) *field {
	return &field{label: label, hint: hint, options: options}
}

// openForm shows f, focusing its first field.
func (m *Model) openForm(f *form) tea.Cmd {
	m.form = f
	m.status = ""
	return f.setFocus(0)
}

func (f *form) setFocus(i int) tea.Cmd {
	if len(f.fields) == 0 {
		return nil
	}
	f.focus = (i + len(f.fields)) % len(f.fields)
	var cmd tea.Cmd
	for j, fl := range f.fields {
		if j == f.focus && fl.options == nil {
			cmd = fl.in.Focus()
			fl.in.CursorEnd()
		} else {
			fl.in.Blur()
		}
	}
	return cmd
}

func (f *form) values() []string {
	var vs []string
	for _, fl := range f.fields {
		vs = append(vs, fl.value())
	}
	return vs
}

func (f *form) key(m *Model, msg tea.KeyMsg) tea.Cmd {
	s := msg.String()
	if s == "esc" {
		m.form = nil
		m.setStatus("Cancelled", false)
		return nil
	}
	if f.yesNo {
		switch strings.ToLower(s) {
		case "y":
			return f.do(m)
		case "n":
			m.form = nil
			m.setStatus("Cancelled", false)
		}
		return nil
	}
	cur := f.fields[f.focus]
	switch s {
	case "tab", "down":
		return f.setFocus(f.focus + 1)
	case "shift+tab", "up":
		return f.setFocus(f.focus - 1)
	case "enter":
		if f.focus < len(f.fields)-1 {
			return f.setFocus(f.focus + 1)
		}
		return f.do(m)
	}
	if cur.options != nil {
		switch s {
		case "right", "l", " ":
			cur.opt = (cur.opt + 1) % len(cur.options)
		case "left", "h":
			cur.opt = (cur.opt + len(cur.options) - 1) % len(cur.options)
		}
		return nil
	}
	var cmd tea.Cmd
	cur.in, cmd = cur.in.Update(msg)
	f.err = ""
	return cmd
}

// do submits: on success the form closes and the action starts.
func (f *form) do(m *Model) tea.Cmd {
	cmd, err := f.submit(f.values())
	if err != nil {
		f.err = err.Error()
		return nil
	}
	m.form = nil
	return cmd
}

func (f *form) view(m *Model) []string {
	lines := []string{"", "  " + m.st.title.Render(f.title), ""}
	for _, t := range f.text {
		for _, l := range strings.Split(ansi.Wordwrap(t, max(m.width-4, 20), ""), "\n") {
			lines = append(lines, "  "+l)
		}
	}
	if len(f.text) > 0 {
		lines = append(lines, "")
	}
	width := 0
	for _, fl := range f.fields {
		width = max(width, len(fl.label))
	}
	for i, fl := range f.fields {
		marker := "  "
		if i == f.focus {
			marker = "> "
		}
		var v string
		if fl.options != nil {
			v = "‹ " + fl.options[fl.opt] + " ›"
		} else {
			fl.in.Width = min(max(m.width-width-8, 10), 48)
			v = "[" + fl.in.View() + "]"
		}
		lines = append(lines, marker+pad(fl.label+":", width+1)+" "+v)
		if fl.hint != "" && i == f.focus {
			lines = append(lines, strings.Repeat(" ", width+4)+m.st.dim.Render(fl.hint))
		}
	}
	if f.err != "" {
		lines = append(lines, "", "  "+m.st.errText.Render(f.err))
	}
	lines = append(lines, "")
	if f.yesNo {
		lines = append(lines, "  "+m.st.dim.Render("y: yes · n/esc: no"))
	} else {
		lines = append(lines, "  "+m.st.dim.Render("tab: next field · enter: submit · esc: cancel"))
	}
	return lines
}
