package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
)

func TestSandboxSessions(t *testing.T) {
	t.Parallel()
	s := storetest.NewDB(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := sandbox.Record{ID: "a", Owner: "u1", Chapter: "pods", Size: "small", Extra: []string{"dev"}, Status: sandbox.StatusReady,
		Backend: "namespaced", SandboxID: "x1", Namespace: "kl-x1", Namespaces: map[string]string{"dev": "kl-x1-dev"},
		Simulated: true, CreatedAt: now, ReadyAt: now.Add(time.Second), ExpiresAt: now.Add(time.Hour), ActiveAt: now}
	b := sandbox.Record{ID: "b", Owner: "u2", Chapter: "pods", Status: sandbox.StatusQueued, Backend: "namespaced",
		CreatedAt: now.Add(time.Millisecond), ExpiresAt: now.Add(time.Hour), ActiveAt: now}
	for _, r := range []sandbox.Record{a, b} {
		if err := s.InsertSandboxSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	dup := a
	dup.ID = "a2"
	if err := s.InsertSandboxSession(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second live session of the same chapter: %v, want ErrConflict", err)
	}
	got, err := s.GetSandboxSession(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	eq := cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) })
	if diff := cmp.Diff(a, got, eq); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := s.GetSandboxSession(ctx, "nope"); !errors.Is(err, sandbox.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v, want both ErrNotFound", err)
	}
	a.Status, a.Reason = sandbox.StatusEnded, "bye"
	if err := s.UpdateSandboxSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    sandbox.Filter
		want []string
	}{
		{sandbox.Filter{}, []string{"a", "b"}},
		{sandbox.Filter{Statuses: []string{sandbox.StatusQueued, sandbox.StatusReady}}, []string{"b"}},
		{sandbox.Filter{Owner: "u1"}, []string{"a"}},
		{sandbox.Filter{Chapter: "other"}, nil},
	}
	for _, tt := range tests {
		rs, err := s.ListSandboxSessions(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("List(%+v) (-want +got):\n%s", tt.f, diff)
		}
	}
}
