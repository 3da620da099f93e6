package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNodeCordonDrainFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		cordon    bool
		drain     bool
		want      any
		wantUsage bool
	}{
		{name: "cordon", args: []string{"node2"}, cordon: true, want: nodeCordonOptions{Node: "node2", Cordon: true}},
		{name: "uncordon --json", args: []string{"node2", "--json"}, want: nodeCordonOptions{Node: "node2", JSON: true}},
		{name: "cordon without node", cordon: true, wantUsage: true},
		{name: "drain defaults", args: []string{"n-1"}, drain: true, want: nodeDrainOptions{Node: "n-1", WaitTimeout: 15 * time.Minute}},
		{name: "drain flags", args: []string{"n-1", "--no-wait", "--wait-timeout", "2m", "--json"}, drain: true,
			want: nodeDrainOptions{Node: "n-1", NoWait: true, WaitTimeout: 2 * time.Minute, JSON: true}},
		{name: "drain two nodes", args: []string{"a", "b"}, drain: true, wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			cmd := newCmdNodeCordon(testGlobals(), tt.cordon, func(o *nodeCordonOptions) error { got = *o; return nil })
			if tt.drain {
				cmd = newCmdNodeDrain(testGlobals(), func(o *nodeDrainOptions) error { got = *o; return nil })
			}
			err := parse(t, testGlobals(), cmd, tt.args...)
			if tt.wantUsage {
				if !isUsage(err) || got != nil {
					t.Fatalf("err = %v, ran = %v; want a usage error and no run", err, got != nil)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(nodeCordonOptions{}, "g"), cmpopts.IgnoreFields(nodeDrainOptions{}, "g")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
