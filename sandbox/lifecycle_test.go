package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
)

// setupProbe is a Prepare step that uses the sandbox's setup credentials the
// way a chapter's setup does, and can be held to widen race windows.
type setupProbe struct {
	prov *namespaced.Provisioner
	fail bool
	hold chan struct{} // when set, Prepare waits for it to close
	mu   sync.Mutex
	errs []error
	runs []string // the sessions set up, in order
}

func (p *setupProbe) prepare(ctx context.Context, s sandbox.Session, sb *sandbox.Sandbox) error {
	if p.hold != nil {
		select {
		case <-p.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	p.runs = append(p.runs, s.ID)
	p.mu.Unlock()
	if p.fail {
		return errors.New("setup script exited 1: the author's typo")
	}
	cfg, err := p.prov.SetupConfig(ctx, sb.ID)
	if err != nil {
		return err
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	// What a lab author needs: a quota of their own and a pre-made object.
	if _, err := cs.CoreV1().ResourceQuotas(sb.Namespace).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "author-quota"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("15")}},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create quota: %w", err)
	}
	if _, err := cs.CoreV1().ConfigMaps(sb.Namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "made-by-setup"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create configmap: %w", err)
	}
	// And never anything outside the sandbox.
	_, err = cs.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "escape"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		p.mu.Lock()
		p.errs = append(p.errs, fmt.Errorf("setup credentials wrote to kube-system: %v", err))
		p.mu.Unlock()
	}
	return nil
}

func configMapExists(t *testing.T, ns, name string) bool {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(simclustertest.Cluster(t).AdminConfig())
	_, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	return err == nil
}

func TestSetupRunsBeforeReadyOnEveryPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	probe := &setupProbe{prov: e.provisioner()}
	prepped := sandbox.ChapterSpec{ID: "prepped", Size: "small"}
	m, _ := e.start(sandbox.ManagerOptions{Provisioner: probe.prov, Prepare: probe.prepare, PoolSize: map[string]int{"small": 1},
		Prepared: []sandbox.ChapterSpec{prepped}})
	ctx := t.Context()
	poolFull(t, m, "small", 1)
	waitFor(t, func() bool { return m.PreparedReady(prepped) == 1 })
	paths := []struct {
		name     string
		start    func() sandbox.Session
		prepared bool // set up before the learner came: no setup step of its own
	}{
		{"prepared pool claim", func() sandbox.Session {
			s, err := m.Start(ctx, "erin", prepped)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, true},
		{"pool claim", func() sandbox.Session {
			s, err := m.Start(ctx, "erin", sandbox.ChapterSpec{ID: "pods", Size: "small"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"cold create", func() sandbox.Session {
			s, err := m.Start(ctx, "erin", sandbox.ChapterSpec{ID: "ns", Size: "small", Namespaces: []string{"dev"}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
	}
	for _, p := range paths {
		s := waitStatus(t, m, p.start().ID, sandbox.StatusReady)
		if !configMapExists(t, s.Namespace, "made-by-setup") {
			t.Errorf("%s: ready without the setup's objects", p.name)
		}
		steps := e.steps(s.ID)
		probe.mu.Lock()
		setUp := slices.Contains(probe.runs, s.ID)
		probe.mu.Unlock()
		switch {
		case p.prepared && (setUp || slices.Contains(steps, "setup")):
			t.Errorf("%s: the setup ran again for the learner (steps %v)", p.name, steps)
		case !p.prepared && (!setUp || len(steps) < 2 || steps[len(steps)-2] != "setup" || steps[len(steps)-1] != "ready"):
			t.Errorf("%s: set up %v, steps %v, want setup reported just before ready", p.name, setUp, steps)
		}
		// Reset gives back the start state: a fresh sandbox, set up again.
		if _, err := m.Reset(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		r := waitStatus(t, m, s.ID, sandbox.StatusReady)
		if r.Namespace == s.Namespace || !configMapExists(t, r.Namespace, "made-by-setup") {
			t.Errorf("%s: after reset namespace %s (was %s), setup's objects there: %v", p.name, r.Namespace, s.Namespace, configMapExists(t, r.Namespace, "made-by-setup"))
		}
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	for _, err := range probe.errs {
		t.Error(err)
	}
}

func TestFailingSetupFailsTheSessionPolitely(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	probe := &setupProbe{prov: e.provisioner(), fail: true}
	m, _ := e.start(sandbox.ManagerOptions{Provisioner: probe.prov, Prepare: probe.prepare})
	s, err := m.Start(t.Context(), "frank", sandbox.ChapterSpec{ID: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, m, s.ID, sandbox.StatusFailed)
	if got.Reason != sandbox.ReasonSetupFailed {
		t.Errorf("reason %q, want the fixed sentence %q", got.Reason, sandbox.ReasonSetupFailed)
	}
	if strings.Contains(got.Reason, "typo") {
		t.Errorf("the learner sees the internal error: %q", got.Reason)
	}
	namespaceGone(t, sandbox.NamespaceName(sandboxOf(t, e, s.ID), ""))
}

// sandboxOf is the sandbox id a session holds now.
func sandboxOf(t *testing.T, e *env, session string) string {
	t.Helper()
	r, err := e.st.GetSandboxSession(t.Context(), session)
	if err != nil {
		t.Fatal(err)
	}
	return r.SandboxID
}

// TestEndAndResetRaceProvisioning ends or resets sessions while their
// sandbox is being made (held in setup, where the window is widest): the
// learner's decision must win, and no sandbox may outlive its session.
func TestEndAndResetRaceProvisioning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	probe := &setupProbe{prov: e.provisioner(), hold: make(chan struct{})}
	m, _ := e.start(sandbox.ManagerOptions{Provisioner: probe.prov, Prepare: probe.prepare, PoolSize: map[string]int{"small": 2}, MaxPerUser: 10})
	ctx := t.Context()
	poolFull(t, m, "small", 2)
	type started struct {
		s       sandbox.Session
		sandbox string
		action  string
	}
	var all []started
	for i, action := range []string{"end", "reset", "extend", "end", "reset", "extend"} {
		s, err := m.Start(ctx, "gina", sandbox.ChapterSpec{ID: fmt.Sprintf("ch%d", i), Size: "small"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, started{s, sandboxOf(t, e, s.ID), action})
	}
	var wg sync.WaitGroup
	for _, st := range all {
		wg.Go(func() {
			var err error
			switch st.action {
			case "end":
				err = m.End(ctx, st.s.ID)
			case "reset":
				_, err = m.Reset(ctx, st.s.ID)
			case "extend":
				_, err = m.Extend(ctx, st.s.ID)
			}
			if err != nil {
				t.Errorf("%s during provisioning: %v", st.action, err)
			}
		})
	}
	wg.Wait()
	close(probe.hold) // the held creates and claims now try to mark their sessions ready
	for _, st := range all {
		switch st.action {
		case "end":
			waitStatus(t, m, st.s.ID, sandbox.StatusEnded)
			time.Sleep(200 * time.Millisecond) // give a lost update the chance to show
			if got, _ := m.Session(ctx, st.s.ID); got.Status != sandbox.StatusEnded {
				t.Errorf("ended during provisioning came back %s", got.Status)
			}
			namespaceGone(t, sandbox.NamespaceName(st.sandbox, ""))
		case "reset":
			r := waitStatus(t, m, st.s.ID, sandbox.StatusReady)
			if cur := sandboxOf(t, e, st.s.ID); cur == st.sandbox {
				t.Errorf("reset during provisioning kept the old sandbox %s", cur)
			}
			namespaceGone(t, sandbox.NamespaceName(st.sandbox, ""))
			works(t, m, r.ID)
		case "extend":
			r := waitStatus(t, m, st.s.ID, sandbox.StatusReady)
			if !r.ExpiresAt.After(st.s.ExpiresAt) {
				t.Errorf("extend during provisioning lost: expires %s, was %s", r.ExpiresAt, st.s.ExpiresAt)
			}
			works(t, m, r.ID)
		}
	}
	waitNoPendingDeletes(t, m)
}

func waitNoPendingDeletes(t *testing.T, m *sandbox.Manager) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); m.PendingDeletes() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sandboxes still wait for deletion", m.PendingDeletes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentLifecycleHammer runs starts, ends, resets, extends and
// touches at once from many goroutines (the race detector watches), then
// checks the invariants: no ended session holds a sandbox, every ready one
// has its sandbox.
func TestConcurrentLifecycleHammer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{PoolSize: map[string]int{"small": 3}, MaxPerUser: 100, MaxTotal: 8, IdleTTL: time.Hour})
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 4 {
				s, err := m.Start(ctx, fmt.Sprintf("w%d", w), sandbox.ChapterSpec{ID: fmt.Sprintf("c%d", i), Size: "small"})
				if err != nil {
					t.Errorf("start: %v", err)
					return
				}
				m.Touch(ctx, s.ID)
				switch (w + i) % 4 {
				case 0:
					_ = m.End(ctx, s.ID)
				case 1:
					_, _ = m.Reset(ctx, s.ID)
				case 2:
					_, _ = m.Extend(ctx, s.ID)
				}
			}
		})
	}
	wg.Wait()
	settle := time.Now().Add(60 * time.Second)
	for {
		rs, err := e.st.ListSandboxSessions(ctx, sandbox.Filter{Statuses: []string{sandbox.StatusProvisioning, sandbox.StatusQueued}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			break
		}
		if time.Now().After(settle) {
			t.Fatalf("%d sessions never settled", len(rs))
		}
		// Free capacity so the queue drains.
		ready, _ := e.st.ListSandboxSessions(ctx, sandbox.Filter{Statuses: []string{sandbox.StatusReady}})
		for _, r := range ready {
			_ = m.End(ctx, r.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitNoPendingDeletes(t, m)
	rs, err := e.st.ListSandboxSessions(ctx, sandbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Status == sandbox.StatusFailed {
			t.Errorf("session %s failed: %s", r.ID, r.Reason)
		}
		if r.Status == sandbox.StatusEnded || r.Status == sandbox.StatusExpired {
			namespaceGone(t, sandbox.NamespaceName(r.SandboxID, ""))
		}
	}
}

func TestActivityPostponesIdleExpiryAndCancelsTheWarning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{TTL: 4 * time.Hour, IdleTTL: 20 * time.Minute, WarnBefore: 5 * time.Minute})
	ctx := t.Context()
	s, err := m.Start(ctx, "hank", sandbox.ChapterSpec{ID: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, s.ID, sandbox.StatusReady)
	// A learner active every 2 minutes for an hour is never expired.
	for range 30 {
		e.clock.Add(2 * time.Minute)
		m.Touch(ctx, s.ID)
	}
	time.Sleep(100 * time.Millisecond) // several reaper ticks
	if got, _ := m.Session(ctx, s.ID); got.Status != sandbox.StatusReady {
		t.Fatalf("active learner: status %s (%s)", got.Status, got.Reason)
	}
	if n := len(e.eventsOf(s.ID, sandbox.EventExpiring)); n != 0 {
		t.Errorf("active learner got %d expiry warnings", n)
	}
	// Quiet for 16 minutes: warned, with the idle kind.
	e.clock.Add(16 * time.Minute)
	waitFor(t, func() bool { return len(e.eventsOf(s.ID, sandbox.EventExpiring)) == 1 })
	if w := e.eventsOf(s.ID, sandbox.EventExpiring)[0]; w.Kind != sandbox.ExpiryIdle || w.Message == "" {
		t.Errorf("warning = %+v, want kind idle with a message", w)
	}
	// Any activity cancels it and is written at once.
	m.Touch(ctx, s.ID)
	waitFor(t, func() bool { return len(e.eventsOf(s.ID, sandbox.EventActive)) == 1 })
	e.clock.Add(16 * time.Minute)
	time.Sleep(100 * time.Millisecond)
	if got, _ := m.Session(ctx, s.ID); got.Status != sandbox.StatusReady {
		t.Fatalf("after the cancelled warning: status %s", got.Status)
	}
	// Then really idle: expired, with the fixed sentence.
	e.clock.Add(5 * time.Minute)
	got := waitStatus(t, m, s.ID, sandbox.StatusExpired)
	if got.Reason != sandbox.ReasonIdle {
		t.Errorf("reason %q, want %q", got.Reason, sandbox.ReasonIdle)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestResetNeverPassesTheLifetimeCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, _ := e.start(sandbox.ManagerOptions{TTL: time.Hour, MaxTTL: 90 * time.Minute})
	ctx := t.Context()
	s, err := m.Start(ctx, "ivy", sandbox.ChapterSpec{ID: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, m, s.ID, sandbox.StatusReady)
	for range 3 { // reset with under a minute left, again and again
		cur, _ := m.Session(ctx, s.ID)
		e.clock.Add(cur.ExpiresAt.Sub(e.clock.Now()) - 30*time.Second)
		r, err := m.Reset(ctx, s.ID)
		if err != nil {
			t.Fatalf("reset: %v", err)
		}
		if limit := s.CreatedAt.Add(90 * time.Minute); r.ExpiresAt.After(limit) {
			t.Fatalf("reset moved expiry to %s, past the cap %s", r.ExpiresAt, limit)
		}
		waitStatus(t, m, s.ID, sandbox.StatusReady)
	}
}
