package tui

import (
	"github.com/charmbracelet/lipgloss"
)

// styles are the dashboard's looks, made from one renderer so that a
// NO_COLOR terminal (the Ascii profile) gets plain text throughout: nothing
// the dashboard shows relies on colour alone (the selected row has a
// marker, the active tab brackets).
type styles struct {
	title     lipgloss.Style
	tabActive lipgloss.Style
	tabOther  lipgloss.Style
	header    lipgloss.Style
	selected  lipgloss.Style
	dim       lipgloss.Style
	section   lipgloss.Style
	good      lipgloss.Style
	warn      lipgloss.Style
	bad       lipgloss.Style
	errText   lipgloss.Style
	match     lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title:     r.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		tabActive: r.NewStyle().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("4")),
		tabOther:  r.NewStyle().Foreground(lipgloss.Color("7")),
		header:    r.NewStyle().Bold(true).Foreground(lipgloss.Color("8")),
		selected:  r.NewStyle().Bold(true).Reverse(true),
		dim:       r.NewStyle().Foreground(lipgloss.Color("8")),
		section:   r.NewStyle().Bold(true).Underline(true),
		good:      r.NewStyle().Foreground(lipgloss.Color("2")),
		warn:      r.NewStyle().Foreground(lipgloss.Color("3")),
		bad:       r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		errText:   r.NewStyle().Foreground(lipgloss.Color("1")),
		match:     r.NewStyle().Reverse(true),
	}
}

// state colours a status word: green when all is well, yellow while it
// changes, red when it needs a person.
func (s styles) state(v string) lipgloss.Style {
	switch v {
	case "running", "ready", "healthy", "yes":
		return s.good
	case "building", "deploying", "creating", "starting", "pending", "draining", "created":
		return s.warn
	case "failed", "crashloop", "oom", "down", "unavailable", "unhealthy", "disconnected":
		return s.bad
	}
	return lipgloss.Style{}
}
