package apps

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

// Resources are what one instance of an app, or a database, reserves on its
// node.
type Resources struct {
	Memory int64
	CPUs   float64
}

func (r Resources) add(o Resources, times int) Resources {
	return Resources{Memory: r.Memory + o.Memory*int64(times), CPUs: r.CPUs + o.CPUs*float64(times)}
}

// rules are the master's placement settings.
type rules struct {
	// minFreeDisk: a node with less free disk takes no new replica.
	minFreeDisk int64
	// cpuOvercommit: a node takes requested CPUs up to its cores times this.
	cpuOvercommit float64
	// warm: nodes that hold the image of the release being placed, so a
	// replica there starts without a build. Among nodes with as few of the
	// app's replicas, they come first.
	warm map[string]bool
}

// room is what one candidate node has free.
type room struct {
	node *api.Node // in the caller's list: copying each node was most of a pass's cost
	mem  int64
	cpu  float64 // CPUs that may still be requested
	warm bool    // it has the release's image
}

// spread picks nodes for n more replicas of an app that needs need per
// replica. have counts the app's replicas already on each node (they stay
// where they are); used is what is reserved on each node, replicas placed
// already included. Among ready, connected, uncordoned nodes with the app
// role (other than skip) and enough free disk, each replica goes where
// both its memory and CPUs fit, on the node with the fewest replicas of
// the app, then one that has the release's image (r.warm), then the most
// free memory. When fewer than n fit, reason says
// what is missing. used and have are not changed.
func spread(nodes []api.Node, used map[string]Resources, need Resources, n int, have map[string]int, skip string, r rules) (picked []api.Node, reason string) {
	var cands []room
	cordoned, lowDisk := 0, 0
	for i := range nodes {
		nd := &nodes[i]
		if nd.ID == skip || nd.State != api.NodeReady || !nd.Connected || !slices.Contains(nd.Roles, proto.RoleApp) {
			continue
		}
		if nd.Cordoned {
			cordoned++
			continue
		}
		if freeDisk(*nd) < r.minFreeDisk {
			lowDisk++
			continue
		}
		u := used[nd.ID]
		cands = append(cands, room{node: nd, mem: int64(nd.Facts.MemoryBytes) - u.Memory,
			cpu: float64(nd.Facts.CPUs)*max(r.cpuOvercommit, 1) - u.CPUs, warm: r.warm[nd.ID]})
	}
	count := map[string]int{}
	for id, k := range have {
		count[id] = k
	}
	fits := func(c room) bool {
		cpuOK := c.node.Facts.CPUs == 0 || (need.CPUs <= float64(c.node.Facts.CPUs) && c.cpu >= need.CPUs-1e-9)
		return c.mem >= need.Memory && cpuOK
	}
	for range n {
		best := -1
		for i, c := range cands {
			if !fits(c) {
				continue
			}
			if best < 0 || better(c, cands[best], count) {
				best = i
			}
		}
		if best < 0 {
			return picked, noRoomReason(cands, need, cordoned, lowDisk, r)
		}
		picked = append(picked, *cands[best].node)
		count[cands[best].node.ID]++
		cands[best].mem -= need.Memory
		cands[best].cpu -= need.CPUs
	}
	return picked, ""
}

// better says whether a replica goes on c rather than on b: fewer replicas
// of the app first, then a node that has the image (no build: a failover
// onto it serves seconds sooner), then more free memory, then the node id
// (so the choice is the same every time).
func better(c, b room, count map[string]int) bool {
	if count[c.node.ID] != count[b.node.ID] {
		return count[c.node.ID] < count[b.node.ID]
	}
	if c.warm != b.warm {
		return c.warm
	}
	if c.mem != b.mem {
		return c.mem > b.mem
	}
	return c.node.ID < b.node.ID
}

// freeDisk is a node's free disk as its last heartbeat said; a node that
// has not said counts as having room.
func freeDisk(n api.Node) int64 {
	if n.Facts.DiskBytes == 0 || n.Usage.DiskUsedBytes == 0 {
		return 1 << 62
	}
	return int64(n.Facts.DiskBytes) - int64(n.Usage.DiskUsedBytes)
}

// noRoomReason says why no candidate node takes a replica that needs need.
func noRoomReason(cands []room, need Resources, cordoned, lowDisk int, r rules) string {
	disk := ""
	if lowDisk > 0 {
		disk = fmt.Sprintf("; %d app node(s) skipped with less than %s of free disk", lowDisk, sizeText(r.minFreeDisk))
	}
	switch {
	case len(cands) == 0 && lowDisk > 0:
		return fmt.Sprintf("every ready app node has less than %s of free disk (%d): free some disk, or add a node", sizeText(r.minFreeDisk), lowDisk)
	case len(cands) == 0 && cordoned > 0:
		return fmt.Sprintf("every ready app node is cordoned (%d): uncordon one with gasper node uncordon NODE, or add one", cordoned)
	case len(cands) == 0:
		return "no ready app node: add one with gasper node token and gasper-agent join --roles app"
	}
	var mostMem int64 = -1
	mostCPU, mostCores := -1.0, 0
	memOK, cpuOK := false, false
	for _, c := range cands {
		mostMem = max(mostMem, c.mem)
		mostCores = max(mostCores, c.node.Facts.CPUs)
		mostCPU = max(mostCPU, c.cpu)
		memOK = memOK || c.mem >= need.Memory
		cpuOK = cpuOK || c.node.Facts.CPUs == 0 || (need.CPUs <= float64(c.node.Facts.CPUs) && c.cpu >= need.CPUs-1e-9)
	}
	switch {
	case !memOK:
		return fmt.Sprintf("needs %s of memory; the most any app node has free is %s", sizeText(need.Memory), sizeText(mostMem)) + disk
	case !cpuOK && need.CPUs > float64(mostCores):
		return fmt.Sprintf("needs %s CPUs; the most cores any app node has is %d", cpuText(need.CPUs), mostCores) + disk
	case !cpuOK:
		return fmt.Sprintf("needs %s CPUs; the most any app node has free is %s", cpuText(need.CPUs), cpuText(max(mostCPU, 0))) + disk
	}
	return fmt.Sprintf("needs %s of memory and %s CPUs; no app node has both free", sizeText(need.Memory), cpuText(need.CPUs)) + disk
}

// cpuText renders a CPU count: 2, 0.5, 1.25.
func cpuText(c float64) string { return strconv.FormatFloat(c, 'f', -1, 64) }

// sizeText renders bytes for people: 512 MiB, 1.2 GiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<30))) + " GiB"
	case n >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	case n < 0:
		return "0 B"
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// needOf is what one instance of an app reserves on its node.
func (s *Service) needOf(c api.AppConfig) Resources {
	r := Resources{Memory: c.MemoryBytes, CPUs: c.CPUs}
	if r.Memory <= 0 {
		r.Memory = s.cfg.DefaultMemory
	}
	if r.CPUs <= 0 {
		r.CPUs = s.cfg.DefaultCPUs
	}
	return r
}

func (s *Service) rules() rules {
	return rules{minFreeDisk: s.cfg.MinFreeDisk, cpuOvercommit: s.cfg.CPUOvercommit}
}

// rulesFor are the placement rules for more replicas of a: the nodes that
// already hold its current release's image are preferred (see better).
func (s *Service) rulesFor(ctx context.Context, a store.App, nodes []api.Node) rules {
	r := s.rules()
	r.warm = s.warmNodes(ctx, a, nodes)
	return r
}

// warmNodes are the ready nodes that hold the image of a's current release,
// as their reports (or this master's builds) say.
func (s *Service) warmNodes(ctx context.Context, a store.App, nodes []api.Node) map[string]bool {
	if a.Release == 0 {
		return nil
	}
	image := s.imageOf(ctx, a.Name, a.Release)
	if image == "" {
		return nil
	}
	var warm map[string]bool
	for _, n := range nodes {
		if !ready(n) {
			continue
		}
		if has, known := s.hasImage(n.ID, a.Name, image); has && known {
			if warm == nil {
				warm = map[string]bool{}
			}
			warm[n.ID] = true
		}
	}
	return warm
}

// Allocated is the memory reserved on each node by the apps and databases placed there; database
// placement counts with it too.
func (s *Service) Allocated(ctx context.Context) (map[string]int64, error) {
	used, err := s.used(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(used))
	for id, u := range used {
		out[id] = u.Memory
	}
	return out, nil
}

// used sums, per node, what the replicas of every app and the databases
// placed there reserve.
func (s *Service) used(ctx context.Context) (map[string]Resources, error) {
	if err := s.ledger.load(ctx, s); err != nil {
		return nil, err
	}
	out := s.ledger.usage()
	dbs, err := s.cfg.Store.Databases(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, d := range dbs {
		if d.NodeID != "" {
			r := Resources{Memory: d.MemoryBytes, CPUs: d.CPUs}
			if r.Memory == 0 {
				r.Memory = s.cfg.DefaultDBMemory
			}
			if r.CPUs == 0 {
				r.CPUs = s.cfg.DefaultDBCPUs
			}
			out[d.NodeID] = out[d.NodeID].add(r, 1)
		}
	}
	return out, nil
}
