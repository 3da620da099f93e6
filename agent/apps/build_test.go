package apps

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestBuildSlots(t *testing.T) {
	m, err := New(Config{StateDir: t.TempDir(), MaxBuilds: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var said []string
	say := func(f string, args ...any) { said = append(said, f) }
	doneA, err := m.buildSlot(ctx, "img-a", say)
	if err != nil {
		t.Fatal(err)
	}
	doneB, err := m.buildSlot(ctx, "img-b", say)
	if err != nil {
		t.Fatal(err)
	}
	if len(said) != 0 {
		t.Fatalf("two builds of two images waited with 2 slots: %v", said)
	}

	// A third build waits for a slot, and gives up when its context ends.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := m.buildSlot(short, "img-c", say); err == nil || !strings.Contains(err.Error(), "build slot") {
		t.Fatalf("third build with both slots taken: err %v, want a wait for a build slot that ended", err)
	}

	// A second build of an image being built waits for it, then runs.
	got := make(chan error, 1)
	go func() {
		done, err := m.buildSlot(ctx, "img-a", func(string, ...any) {})
		if err == nil {
			done()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second build of img-a ran beside the first (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	doneB() // a slot is free, but img-a is still being built
	select {
	case err := <-got:
		t.Fatalf("second build of img-a ran beside the first (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	doneA()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second build of img-a did not run within 5s after the first ended")
	}
	// Every slot is free again.
	for _, img := range []string{"img-x", "img-y"} {
		short, cancel := context.WithTimeout(ctx, time.Second)
		done, err := m.buildSlot(short, img, say)
		cancel()
		if err != nil {
			t.Fatalf("build of %s after the others ended: %v", img, err)
		}
		defer done()
	}
}
