package apps

import (
	"context"
	"fmt"
	"slices"

	"gasper/api"
	"gasper/proto"
)

// choose picks the node for an app that needs need bytes of memory: among
// ready, connected, uncordoned nodes with the app role (other than skip),
// the one with the most free memory that fits it. Free memory is the node's
// memory less the limits of what is already placed there (used, by node id).
// When no node fits, reason says what is missing.
func choose(nodes []api.Node, used map[string]int64, need int64, skip string) (best api.Node, reason string) {
	found, cordoned := false, 0
	var mostFree int64 = -1
	for _, n := range nodes {
		if n.ID == skip || n.State != api.NodeReady || !n.Connected || !slices.Contains(n.Roles, proto.RoleApp) {
			continue
		}
		if n.Cordoned {
			cordoned++
			continue
		}
		free := int64(n.Facts.MemoryBytes) - used[n.ID]
		mostFree = max(mostFree, free)
		if free >= need && (!found || free > int64(best.Facts.MemoryBytes)-used[best.ID]) {
			best, found = n, true
		}
	}
	switch {
	case found:
		return best, ""
	case mostFree < 0 && cordoned > 0:
		return api.Node{}, fmt.Sprintf("every ready app node is cordoned (%d): uncordon one with gasper node uncordon NODE, or add one", cordoned)
	case mostFree < 0:
		return api.Node{}, "no ready app node: add one with gasper node token and gasper-agent join --roles app"
	}
	return api.Node{}, fmt.Sprintf("needs %s of memory; the most any app node has free is %s", sizeText(need), sizeText(mostFree))
}

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

// memoryOf is the memory an app reserves on its node.
func (s *Service) memoryOf(c api.AppConfig) int64 {
	if c.MemoryBytes > 0 {
		return c.MemoryBytes
	}
	return s.cfg.DefaultMemory
}

// Allocated is the memory reserved on each node by the apps and databases placed there; database
// placement counts with it too.
func (s *Service) Allocated(ctx context.Context) (map[string]int64, error) { return s.used(ctx, "") }

// used sums, per node, the memory limits of the apps (except skipApp) and
// databases placed there.
func (s *Service) used(ctx context.Context, skipApp string) (map[string]int64, error) {
	as, err := s.cfg.Store.Apps(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, a := range as {
		if a.NodeID != "" && a.Name != skipApp {
			out[a.NodeID] += s.memoryOf(a.Config)
		}
	}
	dbs, err := s.cfg.Store.Databases(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, d := range dbs {
		if d.NodeID != "" {
			m := d.MemoryBytes
			if m == 0 {
				m = s.cfg.DefaultDBMemory
			}
			out[d.NodeID] += m
		}
	}
	return out, nil
}
