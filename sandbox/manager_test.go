package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
)

func TestMain(m *testing.M) { simclustertest.Main(m) }

var seq atomic.Int64

// clock is a settable time source for the Manager.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one kubelab's worth of sandbox state: a database and an instance
// label on the shared simulated cluster, so parallel tests do not reap each
// other's sandboxes.
type env struct {
	t        testing.TB
	st       *store.Store
	instance string
	clock    *clock
	mu       sync.Mutex
	events   []sandbox.Event
}

func newEnv(t testing.TB) *env {
	return &env{t: t, st: storetest.NewDB(t), instance: fmt.Sprintf("test%d", seq.Add(1)), clock: newClock()}
}

func (e *env) provisioner() *namespaced.Provisioner {
	return namespaced.New(namespaced.Options{Config: simclustertest.Cluster(e.t).AdminConfig(), Simulated: true, Instance: e.instance})
}

// start runs a Manager until the returned stop is called (or the test ends).
func (e *env) start(o sandbox.ManagerOptions) (*sandbox.Manager, func()) {
	e.t.Helper()
	if o.Provisioner == nil {
		o.Provisioner = e.provisioner()
	}
	if o.Store == nil {
		o.Store = e.st
	}
	o.Simulated = true
	o.Now = e.clock.Now
	o.Tick = 20 * time.Millisecond
	o.Log = slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := sandbox.NewManager(o)
	sub := m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	collected := make(chan struct{})
	go func() { done <- m.Run(ctx) }()
	go func() {
		defer close(collected)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("manager run: %v", err)
			}
			<-collected
			sub.Close()
		})
	}
	e.t.Cleanup(func() {
		stop()
		// Delete what is left on the shared cluster.
		p := e.provisioner()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ids, _ := p.List(ctx)
		for _, id := range ids {
			_ = p.Destroy(ctx, id)
		}
	})
	return m, stop
}

// steps lists the provisioning steps reported for a session.
func (e *env) steps(session string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var steps []string
	for _, ev := range e.events {
		if ev.Session == session && ev.Type == sandbox.EventProgress {
			steps = append(steps, ev.Step)
		}
	}
	return steps
}

// eventsOf lists the events of one type reported for a session.
func (e *env) eventsOf(session, typ string) []sandbox.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []sandbox.Event
	for _, ev := range e.events {
		if ev.Session == session && ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func waitStatus(t testing.TB, m *sandbox.Manager, id, status string) sandbox.Session {
	t.Helper()
	var s sandbox.Session
	var gerr error
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		s, gerr = m.Session(ctx, id)
		return gerr == nil && s.Status == status, nil
	})
	if err != nil {
		t.Fatalf("session %s: status %q (%s), want %q (last error: %v)", id, s.Status, s.Reason, status, gerr)
	}
	return s
}

// works checks the session's sandbox with the learner's own kubeconfig.
func works(t testing.TB, m *sandbox.Manager, id string) {
	t.Helper()
	sb, err := m.Sandbox(t.Context(), id)
	if err != nil {
		t.Fatalf("sandbox of %s: %v", id, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(sb.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("p%d", seq.Add(1))
	_, err = kubernetes.NewForConfigOrDie(cfg).CoreV1().ConfigMaps(sb.Namespace).Create(t.Context(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Errorf("session %s: learner cannot create in %s: %v", id, sb.Namespace, err)
	}
}

func namespaceGone(t testing.TB, ns string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(simclustertest.Cluster(t).AdminConfig())
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && n.DeletionTimestamp != nil), nil
	})
	if err != nil {
		t.Errorf("namespace %s was not deleted", ns)
	}
}

func TestStartIsIdempotentAndReports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{})
	ctx := t.Context()
	s, err := m.Start(ctx, "alice", sandbox.ChapterSpec{ID: "pods", Size: "small", Namespaces: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != sandbox.StatusProvisioning {
		t.Errorf("status = %q, want provisioning", s.Status)
	}
	again, err := m.Start(ctx, "alice", sandbox.ChapterSpec{ID: "pods", Size: "small"})
	if err != nil || again.ID != s.ID {
		t.Errorf("second start = %v, %v; want the same session %s", again.ID, err, s.ID)
	}
	ready := waitStatus(t, m, s.ID, sandbox.StatusReady)
	if ready.Namespace == "" || ready.Namespaces["dev"] == "" || ready.ReadyAt.IsZero() {
		t.Errorf("ready session = %+v", ready)
	}
	works(t, m, s.ID)
	if diff := cmp.Diff([]string{"namespace", "rbac", "quota", "network policy", "token", "ready"}, e.steps(s.ID)); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	list, err := m.SessionsOf(ctx, "alice")
	if err != nil || len(list) != 1 {
		t.Errorf("SessionsOf = %v, %v", list, err)
	}
	if err := m.End(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, s.ID, sandbox.StatusEnded)
	namespaceGone(t, ready.Namespace)
	if _, err := m.Sandbox(ctx, s.ID); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Sandbox after End: %v, want ErrNotFound", err)
	}
	if _, err := m.Session(ctx, "nope"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Session(nope): %v, want ErrNotFound", err)
	}
}

func TestPerUserCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{MaxPerUser: 1})
	if _, err := m.Start(t.Context(), "bob", sandbox.ChapterSpec{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(t.Context(), "bob", sandbox.ChapterSpec{ID: "b"}); !errors.Is(err, sandbox.ErrCapacity) {
		t.Errorf("second chapter: %v, want ErrCapacity", err)
	}
}

func TestPoolClaimAndRefill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{PoolSize: map[string]int{"small": 2}})
	poolFull(t, m, "small", 2)
	s, err := m.Start(t.Context(), "carol", sandbox.ChapterSpec{ID: "pods", Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, s.ID, sandbox.StatusReady)
	if steps := e.steps(s.ID); slices.Contains(steps, "namespace") {
		t.Errorf("claim from the pool made a namespace: steps %v", steps)
	}
	works(t, m, s.ID)
	poolFull(t, m, "small", 2)
	// A chapter with extra namespaces goes cold.
	s2, err := m.Start(t.Context(), "carol", sandbox.ChapterSpec{ID: "ns", Size: "small", Namespaces: []string{"x"}})
	if err != nil || s2.Status != sandbox.StatusProvisioning {
		t.Errorf("extra-namespace start = %q, %v; want provisioning", s2.Status, err)
	}
	waitStatus(t, m, s2.ID, sandbox.StatusReady)
}

// TestWarmOnTopOfThePool: a workshop's ask adds warm sandboxes to the
// pool, claims are served from them, and withdrawing the ask stops refills.
func TestWarmOnTopOfThePool(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{PoolSize: map[string]int{"small": 1}})
	poolFull(t, m, "small", 1)
	pods := sandbox.ChapterSpec{ID: "pods", Size: "small"}
	m.Warm("workshop-1", pods, 3)
	m.Warm("workshop-2", pods, 2)
	poolFull(t, m, "small", 6)
	if got := m.WarmReady(pods); got != 6 {
		t.Errorf("WarmReady = %d, want 6", got)
	}
	if m.WarmTime() <= 0 {
		t.Error("WarmTime is 0 after warm sandboxes were made")
	}
	m.Warm("workshop-1", pods, 0)
	m.Warm("workshop-2", pods, 0)
	for range 4 {
		s, err := m.Start(t.Context(), "erin", pods)
		if err != nil {
			t.Fatal(err)
		}
		waitStatus(t, m, s.ID, sandbox.StatusReady)
		if steps := e.steps(s.ID); slices.Contains(steps, "namespace") {
			t.Errorf("a start with warm sandboxes waiting made a namespace: steps %v", steps)
		}
		if err := m.End(t.Context(), s.ID); err != nil {
			t.Fatal(err)
		}
	}
	poolFull(t, m, "small", 2) // nothing refilled past the pool's own size
	// A chapter that cannot come from the pool is not warmed.
	m.Warm("workshop-3", sandbox.ChapterSpec{ID: "ns", Size: "small", Namespaces: []string{"x"}}, 5)
	if got := m.WarmReady(sandbox.ChapterSpec{ID: "ns", Size: "small", Namespaces: []string{"x"}}); got != 0 {
		t.Errorf("WarmReady of an unpoolable chapter = %d, want 0", got)
	}
}

func poolFull(t testing.TB, m *sandbox.Manager, size string, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		return m.PoolReady(size) == n, nil
	})
	if err != nil {
		t.Fatalf("pool %s has %d, want %d", size, m.PoolReady(size), n)
	}
}

func TestExpiryExtendAndIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{TTL: time.Hour, MaxTTL: 90 * time.Minute, ExtendBy: 20 * time.Minute, IdleTTL: 40 * time.Minute})
	ctx := t.Context()
	s, err := m.Start(ctx, "dave", sandbox.ChapterSpec{ID: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, m, s.ID, sandbox.StatusReady)
	created := s.CreatedAt
	for _, want := range []time.Duration{80 * time.Minute, 90 * time.Minute} {
		x, err := m.Extend(ctx, s.ID)
		if err != nil {
			t.Fatalf("extend: %v", err)
		}
		if got := x.ExpiresAt.Sub(created); got.Round(time.Second) != want {
			t.Errorf("after extend: expires %s after creation, want %s", got, want)
		}
	}
	if _, err := m.Extend(ctx, s.ID); !errors.Is(err, sandbox.ErrExtendLimit) {
		t.Errorf("third extend: %v, want ErrExtendLimit", err)
	}
	// Activity keeps it alive past the idle limit; the hard limit still ends it.
	e.clock.Add(30 * time.Minute)
	m.Touch(ctx, s.ID)
	e.clock.Add(30 * time.Minute)
	if got, _ := m.Session(ctx, s.ID); got.Status != sandbox.StatusReady {
		t.Errorf("after activity: status %q (%s), want ready", got.Status, got.Reason)
	}
	e.clock.Add(31 * time.Minute)
	got := waitStatus(t, m, s.ID, sandbox.StatusExpired)
	if got.Reason == "" {
		t.Error("expired without a reason")
	}
	namespaceGone(t, s.Namespace)

	idle, err := m.Start(ctx, "dave", sandbox.ChapterSpec{ID: "idle"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, idle.ID, sandbox.StatusReady)
	e.clock.Add(41 * time.Minute)
	waitStatus(t, m, idle.ID, sandbox.StatusExpired)
}

func TestQueueOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{MaxTotal: 1})
	ctx := t.Context()
	var ids []string
	for i, owner := range []string{"u1", "u2", "u3"} {
		e.clock.Add(time.Millisecond) // the queue is ordered by creation time
		s, err := m.Start(ctx, owner, sandbox.ChapterSpec{ID: "pods"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus, wantPos := sandbox.StatusQueued, i
		if i == 0 {
			wantStatus = sandbox.StatusProvisioning
		}
		if s.Status != wantStatus || s.Position != wantPos {
			t.Errorf("%s: %s at %d, want %s at %d", owner, s.Status, s.Position, wantStatus, wantPos)
		}
		ids = append(ids, s.ID)
	}
	waitStatus(t, m, ids[0], sandbox.StatusReady)
	if err := m.End(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, ids[1], sandbox.StatusReady)
	if s, _ := m.Session(ctx, ids[2]); s.Status != sandbox.StatusQueued || s.Position != 1 {
		t.Errorf("third: %s at %d, want queued at 1", s.Status, s.Position)
	}
	if err := m.End(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, ids[2], sandbox.StatusReady)
	works(t, m, ids[2])
}

func TestReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{})
	ctx := t.Context()
	s, err := m.Start(ctx, "erin", sandbox.ChapterSpec{ID: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	before := waitStatus(t, m, s.ID, sandbox.StatusReady)
	r, err := m.Reset(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != s.ID || r.Status != sandbox.StatusProvisioning {
		t.Errorf("reset = %s %s, want %s provisioning", r.ID, r.Status, s.ID)
	}
	after := waitStatus(t, m, s.ID, sandbox.StatusReady)
	if after.Namespace == before.Namespace {
		t.Errorf("reset kept namespace %s", after.Namespace)
	}
	namespaceGone(t, before.Namespace)
	works(t, m, s.ID)
}

func TestReconcileAfterKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	p := e.provisioner()
	now := time.Now()
	rec := func(id, sbID, status string) sandbox.Record {
		return sandbox.Record{ID: id, Owner: "o-" + id, Chapter: "pods", Status: status, Backend: "namespaced", SandboxID: sbID,
			Namespace: sandbox.NamespaceName(sbID, ""), CreatedAt: now, ExpiresAt: now.Add(time.Hour), ActiveAt: now}
	}
	// A create killed half-way: its row says provisioning, the namespace exists.
	half := fmt.Sprintf("half%d", seq.Add(1))
	if _, err := p.Create(ctx, half, sandbox.Spec{Owner: "o-killed", Session: "killed", Size: "small"}); err != nil {
		t.Fatal(err)
	}
	// An orphan: labelled by kubelab, no row.
	orphan := fmt.Sprintf("orphan%d", seq.Add(1))
	if _, err := p.Create(ctx, orphan, sandbox.Spec{Size: "small"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []sandbox.Record{
		rec("killed", half, sandbox.StatusProvisioning),
		rec("vanished", "gone"+half, sandbox.StatusReady),
	} {
		if err := e.st.InsertSandboxSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := e.start(sandbox.ManagerOptions{})
	got := waitStatus(t, m, "killed", sandbox.StatusReady)
	if got.Namespace == sandbox.NamespaceName(half, "") {
		t.Error("the half-made namespace was reused")
	}
	works(t, m, "killed")
	if s := waitStatus(t, m, "vanished", sandbox.StatusFailed); s.Reason == "" {
		t.Error("vanished sandbox failed without a reason")
	}
	namespaceGone(t, sandbox.NamespaceName(orphan, ""))
	namespaceGone(t, sandbox.NamespaceName(half, ""))
}

// TestLateOrphanIsSwept: a sandbox that appears after the start's
// reconcile with no session (work a killed process left running) is
// deleted by the periodic sweep; a live session's sandbox is not.
func TestLateOrphanIsSwept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{OrphanSweep: 100 * time.Millisecond})
	s, err := m.Start(t.Context(), "owner", sandbox.ChapterSpec{ID: "pods", Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, s.ID, sandbox.StatusReady)
	late := fmt.Sprintf("late%d", seq.Add(1))
	// The sweep may catch it half-made: its namespace then terminates
	// under the create, which is the point.
	if _, err := e.provisioner().Create(t.Context(), late, sandbox.Spec{Size: "small"}); err != nil && !strings.Contains(err.Error(), "being terminated") {
		t.Fatal(err)
	}
	namespaceGone(t, sandbox.NamespaceName(late, ""))
	works(t, m, s.ID)
}

func TestRestartTwiceWithLiveSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, stop := e.start(sandbox.ManagerOptions{PoolSize: map[string]int{"small": 1}})
	ctx := t.Context()
	var ids []string
	for _, owner := range []string{"f1", "f2", "f3"} {
		s, err := m.Start(ctx, owner, sandbox.ChapterSpec{ID: "pods", Size: "small"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		waitStatus(t, m, id, sandbox.StatusReady)
	}
	for range 2 {
		stop()
		m, stop = e.start(sandbox.ManagerOptions{PoolSize: map[string]int{"small": 1}})
		for _, id := range ids {
			waitStatus(t, m, id, sandbox.StatusReady)
			works(t, m, id)
		}
	}
}

// TestRestartReportsReadySessions: a restart reports every ready session
// whose sandbox survived as ready, so that what runs its live work (the
// server's live grading and shell) takes it up again.
func TestRestartReportsReadySessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, stop := e.start(sandbox.ManagerOptions{})
	s, err := m.Start(t.Context(), "r1", sandbox.ChapterSpec{ID: "pods", Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, s.ID, sandbox.StatusReady)
	readyReports := func() int {
		n := 0
		for _, ev := range e.eventsOf(s.ID, sandbox.EventStatus) {
			if ev.State.Status == sandbox.StatusReady {
				n++
			}
		}
		return n
	}
	waitFor(t, func() bool { return readyReports() == 1 })
	stop()
	e.start(sandbox.ManagerOptions{})
	waitFor(t, func() bool { return readyReports() == 2 })
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
