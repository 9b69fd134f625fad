package store_test

import (
	"errors"
	"fmt"
	"strings"
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
	if _, err := s.FinishSandboxSession(ctx, "a", sandbox.StatusEnded, "bye", sandbox.FinishIf{}); err != nil {
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

// TestSandboxTransitionsAreConditional drives every state change against a
// session that has moved on: each must refuse with ErrStale (or
// ErrNotFound), never overwrite.
// TestGetSandboxSessionOfAnyID: a session id is a URL's path value, and
// any string is a missing session, never a database error (found by
// FuzzSessionAPI in server).
func TestGetSandboxSessionOfAnyID(t *testing.T) {
	t.Parallel()
	s := storetest.NewDB(t)
	for _, id := range []string{"", "no-such", "\x00", "a\x00b", "\xff\xfe", strings.Repeat("x", 10000), "'; DROP TABLE sandbox_sessions; --"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			t.Parallel()
			_, err := s.GetSandboxSession(t.Context(), id)
			if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, sandbox.ErrNotFound) {
				t.Errorf("GetSandboxSession(%q) = %v, want not found", id, err)
			}
		})
	}
}

func TestSandboxTransitionsAreConditional(t *testing.T) {
	t.Parallel()
	s := storetest.NewDB(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ins := func(id, status, sandboxID string) {
		t.Helper()
		r := sandbox.Record{ID: id, Owner: "o-" + id, Chapter: "pods", Status: status, Backend: "namespaced",
			SandboxID: sandboxID, CreatedAt: now, ExpiresAt: now.Add(time.Hour), ActiveAt: now}
		if err := s.InsertSandboxSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	ins("ended", sandbox.StatusEnded, "x1")
	ins("prov", sandbox.StatusProvisioning, "x2")
	ins("ready", sandbox.StatusReady, "x3")
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"ready after end", func() error {
			_, err := s.SetSessionReady(ctx, "ended", "x1", "ns", nil, now)
			return err
		}, sandbox.ErrStale},
		{"ready with a replaced sandbox", func() error {
			_, err := s.SetSessionReady(ctx, "prov", "old", "ns", nil, now)
			return err
		}, sandbox.ErrStale},
		{"fail after end", func() error {
			_, err := s.FailSession(ctx, "ended", "x1", []string{sandbox.StatusProvisioning}, "r")
			return err
		}, sandbox.ErrStale},
		{"replace a ready sandbox", func() error {
			_, err := s.ReplaceSessionSandbox(ctx, "ready", "x3", "new")
			return err
		}, sandbox.ErrStale},
		{"finish twice", func() error {
			_, err := s.FinishSandboxSession(ctx, "ended", sandbox.StatusExpired, "r", sandbox.FinishIf{})
			return err
		}, sandbox.ErrStale},
		{"expire before the time", func() error {
			_, err := s.FinishSandboxSession(ctx, "ready", sandbox.StatusExpired, "r", sandbox.FinishIf{ExpiredBy: now})
			return err
		}, sandbox.ErrStale},
		{"idle-expire after activity", func() error {
			_, err := s.FinishSandboxSession(ctx, "ready", sandbox.StatusExpired, "r", sandbox.FinishIf{IdleBefore: now.Add(-time.Second)})
			return err
		}, sandbox.ErrStale},
		{"reset an ended session", func() error {
			_, _, err := s.ResetSandboxSession(ctx, "ended", "y", now, time.Hour, 4*time.Hour)
			return err
		}, sandbox.ErrStale},
		{"extend an ended session", func() error {
			_, err := s.ExtendSandboxSession(ctx, "ended", time.Minute, 4*time.Hour)
			return err
		}, sandbox.ErrNotFound},
		{"admit a session that is not queued", func() error {
			_, _, err := s.AdmitQueuedSession(ctx, "ready", "z", now, now.Add(time.Hour), 100)
			return err
		}, sandbox.ErrStale},
		{"missing session", func() error {
			_, err := s.SetSessionReady(ctx, "nope", "x", "ns", nil, now)
			return err
		}, sandbox.ErrNotFound},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// The refusals changed nothing.
	for id, want := range map[string]string{"ended": sandbox.StatusEnded, "prov": sandbox.StatusProvisioning, "ready": sandbox.StatusReady} {
		if r, err := s.GetSandboxSession(ctx, id); err != nil || r.Status != want {
			t.Errorf("%s: %s, %v; want %s", id, r.Status, err, want)
		}
	}
	// Extend stops at the cap; reset with under a minute left stays under it.
	r, err := s.ExtendSandboxSession(ctx, "ready", 3*time.Hour, 90*time.Minute)
	if err != nil || !r.ExpiresAt.Equal(now.Add(90*time.Minute)) {
		t.Errorf("extend to the cap: %v, %v", r.ExpiresAt, err)
	}
	if _, err := s.ExtendSandboxSession(ctx, "ready", time.Minute, 90*time.Minute); !errors.Is(err, sandbox.ErrExtendLimit) {
		t.Errorf("extend past the cap: %v, want ErrExtendLimit", err)
	}
	r, old, err := s.ResetSandboxSession(ctx, "ready", "x4", now.Add(89*time.Minute+30*time.Second), time.Hour, 90*time.Minute)
	if err != nil || old != "x3" || r.SandboxID != "x4" || r.ExpiresAt.After(now.Add(90*time.Minute)) {
		t.Errorf("reset near the cap: %+v, old %q, %v", r, old, err)
	}
}

// TestStartSandboxSessionAdmitsUnderTheCap starts sessions concurrently:
// exactly MaxTotal become provisioning, the rest queue.
func TestStartSandboxSessionAdmitsUnderTheCap(t *testing.T) {
	t.Parallel()
	s := storetest.NewDB(t)
	ctx := t.Context()
	now := time.Now().UTC()
	const n, limit = 20, 5
	errs := make(chan error, n)
	for i := range n {
		go func() {
			r := sandbox.Record{ID: fmt.Sprintf("s%d", i), Owner: fmt.Sprintf("u%d", i), Chapter: "pods", Status: sandbox.StatusProvisioning,
				Backend: "namespaced", SandboxID: fmt.Sprintf("x%d", i), CreatedAt: now, ExpiresAt: now.Add(time.Hour), ActiveAt: now}
			_, _, err := s.StartSandboxSession(ctx, r, sandbox.Admission{MaxPerUser: 3, MaxTotal: limit})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	live, err := s.ListSandboxSessions(ctx, sandbox.Filter{Statuses: []string{sandbox.StatusProvisioning}})
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != limit {
		t.Errorf("%d sessions admitted at once, want %d", len(live), limit)
	}
}
