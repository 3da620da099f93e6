package apps

import (
	"testing"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

func TestStatusWithReplicas(t *testing.T) {
	ready := api.Node{ID: "a", State: api.NodeReady}
	in := func(release int, state string) api.Instance { return api.Instance{Release: release, State: state} }
	tests := []struct {
		name   string
		app    store.App
		insts  []api.Instance
		status string
		reason string
	}{
		{"all running", store.App{Release: 2, Replicas: 2, Nodes: []string{"a", "b"}},
			[]api.Instance{in(2, proto.InstanceHealthy), in(2, proto.InstanceHealthy)}, api.AppRunning, ""},
		{"one still building its image", store.App{Release: 2, Replicas: 2, Nodes: []string{"a", "b"}},
			[]api.Instance{in(2, proto.InstanceHealthy), in(1, proto.InstanceHealthy)}, api.AppDeploying, "1 of 2 replicas running"},
		{"leaving instances do not count", store.App{Release: 2, Replicas: 1, Nodes: []string{"a"}},
			[]api.Instance{in(2, proto.InstanceHealthy), in(2, proto.InstanceStopping)}, api.AppRunning, ""},
		{"some placed, the rest waits", store.App{Release: 2, Replicas: 3, Nodes: []string{"a", "b"}, Pending: "2 of 3 replicas placed; needs 1 GiB of memory"},
			[]api.Instance{in(2, proto.InstanceHealthy), in(2, proto.InstanceHealthy)}, api.AppRunning, "2 of 3 replicas placed; needs 1 GiB of memory"},
		{"none placed", store.App{Release: 2, Replicas: 1, Pending: "needs 2 CPUs; the most cores any app node has is 1"},
			nil, api.AppPending, "needs 2 CPUs; the most cores any app node has is 1"},
		{"scaled to 0", store.App{Name: "web", Release: 2, Replicas: 0},
			nil, api.AppStopped, "scaled to 0 replicas: run it with gasper app scale web 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, reason := status(tt.app, nil, tt.insts, ready)
			if st != tt.status || reason != tt.reason {
				t.Errorf("status = %q, %q; want %q, %q", st, reason, tt.status, tt.reason)
			}
		})
	}
}
