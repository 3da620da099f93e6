package apps

import (
	"testing"

	"gasper/api"
	"gasper/proto"
)

func TestChoose(t *testing.T) {
	const gib = 1 << 30
	node := func(id string, mem uint64, mod func(*api.Node)) api.Node {
		n := api.Node{ID: id, Hostname: id, State: api.NodeReady, Connected: true, Roles: []string{proto.RoleApp},
			Facts: api.NodeFacts{MemoryBytes: mem}}
		if mod != nil {
			mod(&n)
		}
		return n
	}
	cordoned := func(n *api.Node) { n.Cordoned = true }
	tests := []struct {
		name   string
		nodes  []api.Node
		used   map[string]int64
		need   int64
		skip   string
		want   string // node id, or "" when nothing fits
		reason string
	}{
		{name: "most free wins", nodes: []api.Node{node("a", 8*gib, nil), node("b", 8*gib, nil)},
			used: map[string]int64{"a": 3 * gib, "b": 1 * gib}, need: gib, want: "b"},
		{name: "bigger node with more used can still have most free", nodes: []api.Node{node("a", 4*gib, nil), node("b", 16*gib, nil)},
			used: map[string]int64{"b": 10 * gib}, need: gib, want: "b"},
		{name: "only the one that fits", nodes: []api.Node{node("a", 8*gib, nil), node("b", 2*gib, nil)},
			used: map[string]int64{"a": 7 * gib}, need: 1536 << 20, want: "b"},
		{name: "down, disconnected, cordoned and non-app nodes are skipped", nodes: []api.Node{
			node("a", 64*gib, func(n *api.Node) { n.State = api.NodeDown }),
			node("b", 64*gib, func(n *api.Node) { n.Connected = false }),
			node("c", 64*gib, cordoned),
			node("d", 64*gib, func(n *api.Node) { n.Roles = []string{proto.RoleProxy} }),
			node("e", 1*gib, nil)}, need: 256 << 20, want: "e"},
		{name: "skip excludes the node being left", nodes: []api.Node{node("a", 8*gib, nil), node("b", 2*gib, nil)},
			need: gib, skip: "a", want: "b"},
		{name: "nothing fits", nodes: []api.Node{node("a", 2*gib, nil), node("b", 4*gib, nil)},
			used: map[string]int64{"b": 2*gib + 820<<20}, need: 8 * gib,
			reason: "needs 8 GiB of memory; the most any app node has free is 2 GiB"},
		{name: "no app node", nodes: []api.Node{node("a", 2*gib, func(n *api.Node) { n.Roles = nil })}, need: gib,
			reason: "no ready app node: add one with gasper node token and gasper-agent join --roles app"},
		{name: "all cordoned", nodes: []api.Node{node("a", 2*gib, cordoned)}, need: gib,
			reason: "every ready app node is cordoned (1): uncordon one with gasper node uncordon NODE, or add one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := choose(tt.nodes, tt.used, tt.need, tt.skip)
			if got.ID != tt.want || reason != tt.reason {
				t.Errorf("choose = %q, %q; want %q, %q", got.ID, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	for in, want := range map[int64]string{8 << 30: "8 GiB", 1288490189: "1.2 GiB", 512 << 20: "512 MiB", -5: "0 B"} {
		if got := sizeText(in); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", in, got, want)
		}
	}
}
