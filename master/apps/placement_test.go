package apps

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

func TestSpread(t *testing.T) {
	const gib = 1 << 30
	node := func(id string, mem uint64, mod func(*api.Node)) api.Node {
		n := api.Node{ID: id, Hostname: id, State: api.NodeReady, Connected: true, Roles: []string{proto.RoleApp},
			Facts: api.NodeFacts{MemoryBytes: mem, CPUs: 2, DiskBytes: 100 * gib}, Usage: api.NodeUsage{DiskUsedBytes: 10 * gib}}
		if mod != nil {
			mod(&n)
		}
		return n
	}
	cordoned := func(n *api.Node) { n.Cordoned = true }
	fullDisk := func(n *api.Node) { n.Usage.DiskUsedBytes = n.Facts.DiskBytes - 512<<20 }
	one := Resources{Memory: gib, CPUs: 0.5}
	strict := rules{minFreeDisk: gib, cpuOvercommit: 1}
	tests := []struct {
		name   string
		nodes  []api.Node
		used   map[string]Resources
		need   Resources
		n      int
		have   map[string]int
		skip   string
		rules  rules
		want   string // node ids picked, comma-separated
		reason string // "" when all fit; else a part of the reason
	}{
		{name: "most free memory wins", nodes: []api.Node{node("a", 8*gib, nil), node("b", 8*gib, nil)},
			used: map[string]Resources{"a": {Memory: 3 * gib}, "b": {Memory: gib}}, need: one, n: 1, want: "b"},
		{name: "bigger node with more used can still have most free", nodes: []api.Node{node("a", 4*gib, nil), node("b", 16*gib, nil)},
			used: map[string]Resources{"b": {Memory: 10 * gib}}, need: one, n: 1, want: "b"},
		{name: "only the one that fits", nodes: []api.Node{node("a", 8*gib, nil), node("b", 2*gib, nil)},
			used: map[string]Resources{"a": {Memory: 7 * gib}}, need: Resources{Memory: 1536 << 20}, n: 1, want: "b"},
		{name: "replicas spread over nodes, most headroom first", nodes: []api.Node{node("a", 4*gib, nil), node("b", 8*gib, nil), node("c", 6*gib, nil)},
			need: one, n: 3, want: "b,c,a"},
		{name: "a node that already runs a replica comes last", nodes: []api.Node{node("a", 16*gib, nil), node("b", 4*gib, nil)},
			have: map[string]int{"a": 1}, need: one, n: 1, want: "b"},
		{name: "more replicas than nodes: doubled up evenly", nodes: []api.Node{node("a", 8*gib, nil), node("b", 8*gib, nil)},
			need: one, n: 4, want: "a,b,a,b"},
		{name: "room for some: place what fits, say why the rest waits", nodes: []api.Node{node("a", 2*gib, nil), node("b", 2*gib, nil)},
			need: Resources{Memory: 1536 << 20}, n: 3, want: "a,b", reason: "needs 1.5 GiB of memory; the most any app node has free is 512 MiB"},
		{name: "down, disconnected, cordoned and non-app nodes are skipped", nodes: []api.Node{
			node("a", 64*gib, func(n *api.Node) { n.State = api.NodeDown }),
			node("b", 64*gib, func(n *api.Node) { n.Connected = false }),
			node("c", 64*gib, cordoned),
			node("d", 64*gib, func(n *api.Node) { n.Roles = []string{proto.RoleProxy} }),
			node("e", 1*gib, nil)}, need: Resources{Memory: 256 << 20}, n: 1, want: "e"},
		{name: "skip excludes the node being left", nodes: []api.Node{node("a", 8*gib, nil), node("b", 2*gib, nil)},
			need: one, n: 1, skip: "a", want: "b"},
		{name: "nothing fits", nodes: []api.Node{node("a", 2*gib, nil), node("b", 4*gib, nil)},
			used: map[string]Resources{"b": {Memory: 2*gib + 820<<20}}, need: Resources{Memory: 8 * gib}, n: 1,
			reason: "needs 8 GiB of memory; the most any app node has free is 2 GiB"},
		{name: "more CPUs than any node has", nodes: []api.Node{node("a", 8*gib, nil)}, need: Resources{Memory: gib, CPUs: 4}, n: 1,
			reason: "needs 4 CPUs; the most cores any app node has is 2"},
		{name: "CPUs taken", nodes: []api.Node{node("a", 8*gib, nil), node("b", 8*gib, nil)}, rules: strict,
			used: map[string]Resources{"a": {CPUs: 1.5}, "b": {CPUs: 2}}, need: Resources{Memory: gib, CPUs: 1}, n: 1,
			reason: "needs 1 CPUs; the most any app node has free is 0.5"},
		{name: "CPU overcommit lets quotas add up past the cores", nodes: []api.Node{node("a", 8*gib, nil)}, rules: rules{cpuOvercommit: 4},
			used: map[string]Resources{"a": {CPUs: 6}}, need: Resources{Memory: gib, CPUs: 2}, n: 1, want: "a"},
		{name: "memory here, CPUs there", nodes: []api.Node{node("a", 8*gib, nil), node("b", 2*gib, nil)}, rules: strict,
			used: map[string]Resources{"a": {CPUs: 2}}, need: Resources{Memory: 4 * gib, CPUs: 1}, n: 1,
			reason: "needs 4 GiB of memory and 1 CPUs; no app node has both free"},
		{name: "low disk skipped and said", nodes: []api.Node{node("a", 8*gib, fullDisk), node("b", 2*gib, nil)}, rules: strict,
			need: Resources{Memory: 4 * gib}, n: 1,
			reason: "needs 4 GiB of memory; the most any app node has free is 2 GiB; 1 app node(s) skipped with less than 1 GiB of free disk"},
		{name: "every node low on disk", nodes: []api.Node{node("a", 8*gib, fullDisk)}, rules: strict, need: one, n: 1,
			reason: "every ready app node has less than 1 GiB of free disk (1)"},
		{name: "no app node", nodes: []api.Node{node("a", 2*gib, func(n *api.Node) { n.Roles = nil })}, need: one, n: 1,
			reason: "no ready app node: add one with gasper node token and gasper-agent join --roles app"},
		{name: "a node with the image wins over more free memory", nodes: []api.Node{node("a", 8*gib, nil), node("b", 16*gib, nil)},
			rules: rules{warm: map[string]bool{"a": true}}, need: one, n: 1, want: "a"},
		{name: "the image does not beat the spread", nodes: []api.Node{node("a", 8*gib, nil), node("b", 4*gib, nil)},
			have: map[string]int{"a": 1}, rules: rules{warm: map[string]bool{"a": true}}, need: one, n: 1, want: "b"},
		{name: "the image does not beat capacity", nodes: []api.Node{node("a", 8*gib, nil), node("b", 4*gib, nil)},
			used: map[string]Resources{"a": {Memory: 7*gib + 512<<20}}, rules: rules{warm: map[string]bool{"a": true}}, need: one, n: 1, want: "b"},
		{name: "the image does not beat cordon or low disk", nodes: []api.Node{node("a", 8*gib, cordoned), node("b", 8*gib, fullDisk), node("c", 2*gib, nil)},
			rules: rules{minFreeDisk: gib, warm: map[string]bool{"a": true, "b": true}}, need: one, n: 1, want: "c"},
		{name: "replicas still spread, the node with the image first", nodes: []api.Node{node("a", 16*gib, nil), node("b", 8*gib, nil), node("c", 4*gib, nil)},
			rules: rules{warm: map[string]bool{"c": true}}, need: one, n: 3, want: "c,a,b"},
		{name: "all cordoned", nodes: []api.Node{node("a", 2*gib, cordoned)}, need: one, n: 1,
			reason: "every ready app node is cordoned (1): uncordon one with gasper node uncordon NODE, or add one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rules.cpuOvercommit == 0 {
				tt.rules.cpuOvercommit = 1
			}
			picked, reason := spread(tt.nodes, tt.used, tt.need, tt.n, tt.have, tt.skip, tt.rules)
			var ids []string
			for _, n := range picked {
				ids = append(ids, n.ID)
			}
			got := strings.Join(ids, ",")
			if got != tt.want || (tt.reason == "") != (reason == "") || !strings.Contains(reason, tt.reason) {
				t.Errorf("spread = %q, %q; want %q, %q", got, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestShrink(t *testing.T) {
	byID := map[string]api.Node{"a": {State: api.NodeReady}, "b": {State: api.NodeReady}, "c": {State: api.NodeDown}}
	for _, tt := range []struct {
		nodes   []string
		n       int
		kept    string
		dropped string
	}{
		{[]string{"a", "b", "c"}, 2, "a,b", "c"},
		{[]string{"a", "b", "a"}, 2, "a,b", "a"},
		{[]string{"a", "b"}, 1, "a", "b"},
		{[]string{"a", "b"}, 0, "", "b,a"},
		{[]string{"a"}, 3, "a", ""},
	} {
		kept, dropped := shrink(tt.nodes, tt.n, byID)
		if strings.Join(kept, ",") != tt.kept || strings.Join(dropped, ",") != tt.dropped {
			t.Errorf("shrink(%v, %d) = %v, %v; want %s, %s", tt.nodes, tt.n, kept, dropped, tt.kept, tt.dropped)
		}
	}
}

func TestSizeText(t *testing.T) {
	for in, want := range map[int64]string{8 << 30: "8 GiB", 1288490189: "1.2 GiB", 512 << 20: "512 MiB", -5: "0 B"} {
		if got := sizeText(in); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestWarmNodes(t *testing.T) {
	const image = "gasper/web:3"
	ready := func(id string) api.Node {
		return api.Node{ID: id, State: api.NodeReady, Connected: true, Roles: []string{proto.RoleApp}}
	}
	down := ready("down")
	down.State = api.NodeDown
	s := &Service{images: map[string]string{"web/3": image}, built: map[string]time.Time{"fresh " + image: time.Now()},
		reports: map[string]proto.StatusReport{
			"has":    {Images: map[string][]string{"web": {"gasper/web:2", image}}},
			"old":    {Images: map[string][]string{"web": {"gasper/web:2"}}},
			"other":  {Images: map[string][]string{"api": {image}}},
			"fresh":  {Images: map[string][]string{}}, // built here a moment ago, not reported yet
			"down":   {Images: map[string][]string{"web": {image}}},
			"silent": {}, // reports no images: unknown, so not counted
		}}
	nodes := []api.Node{ready("has"), ready("old"), ready("other"), ready("fresh"), down, ready("silent"), ready("unreported")}
	got := s.warmNodes(context.Background(), store.App{Name: "web", Release: 3}, nodes)
	want := map[string]bool{"has": true, "fresh": true}
	if !maps.Equal(got, want) {
		t.Errorf("warmNodes = %v, want %v", got, want)
	}
	if got := s.warmNodes(context.Background(), store.App{Name: "web"}, nodes); got != nil {
		t.Errorf("warmNodes of an app with no release = %v, want none", got)
	}
}
