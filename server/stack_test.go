package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/labs/exams"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/jail/jailtest"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
	"github.com/kubelab/kubelab/server/terminal"
)

func TestMain(m *testing.M) {
	jailtest.Prepare()
	simclustertest.Main(m)
}

// testStack is a whole kubelab behind an httptest server: a fresh
// PostgreSQL database, the package's simulated cluster, namespaced
// sandboxes and the bundled chapters.
type testStack struct {
	srv    *Server
	url    string
	store  *store.Store
	shells *atomic.Int64 // learner shells started
}

// stackOption changes the sandbox manager or the server of a test stack.
type stackOption func(*sandbox.ManagerOptions, *Options)

// podsChapter is the bundled chapter the UI tests walk.
var podsChapter = sandbox.ChapterSpec{ID: "pods", Size: "small"}

// withPool keeps n warm sandboxes of the size class "small", and n
// prepared for chapter pods (its setup run ahead), as kubelab serve does.
func withPool(n int) stackOption {
	return func(o *sandbox.ManagerOptions, _ *Options) {
		o.PoolSize = map[string]int{"small": n}
		o.Prepared = []sandbox.ChapterSpec{podsChapter}
	}
}

// withExams offers the exams under dir.
func withExams(t *testing.T, dir string) stackOption {
	list, err := exams.Load(os.DirFS(dir), labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		t.Fatal(err)
	}
	return func(_ *sandbox.ManagerOptions, o *Options) { o.Exams = list }
}

// lateChapters finds chapters through the server once it exists.
type lateChapters struct {
	cat *labs.Catalog
	srv *atomic.Pointer[Server]
}

func (l lateChapters) Chapter(id string) (*labs.Chapter, error) {
	if s := l.srv.Load(); s != nil {
		return s.Chapter(id)
	}
	return l.cat.Chapter(id)
}

// withMaxPerUser lets each learner run at most n labs at once.
func withMaxPerUser(n int) stackOption {
	return func(o *sandbox.ManagerOptions, _ *Options) { o.MaxPerUser = n }
}

func newTestStack(t *testing.T, opts ...stackOption) *testStack {
	t.Helper()
	st := storetest.NewDB(t)
	// Warnings (a failed setup, a lost sandbox) reach the test's log, so a
	// failure says why.
	tl := &testLog{t: t}
	t.Cleanup(func() { tl.done.Store(true) }) // runs last: nothing may log after the test
	log := slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cat, err := labs.Load(labs.Bundled(), labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		t.Fatalf("load bundled chapters: %v", err)
	}
	programs := map[string]*grader.Program{}
	for _, ch := range cat.Chapters() {
		if programs[ch.ID], err = grader.Compile(ch); err != nil {
			t.Fatal(err)
		}
	}
	cl := simclustertest.Cluster(t)
	prov := namespaced.New(namespaced.Options{Config: cl.AdminConfig(), Simulated: true, Log: log, Instance: "st" + time.Now().Format("150405.000000")[7:]})
	j := jailtest.New(t, jailtest.Options(t))
	// Setups find attempts' chapters through the server, made below.
	var srvRef atomic.Pointer[Server]
	mo := sandbox.ManagerOptions{Provisioner: prov, Store: st, Log: log, Simulated: true,
		Prepare: labshell.Setup(lateChapters{cat: cat, srv: &srvRef}, j, prov)}
	so := Options{Simulated: true}
	for _, o := range opts {
		o(&mo, &so)
	}
	mgr := sandbox.NewManager(mo)
	shells := new(atomic.Int64)
	so.Store, so.Log, so.Catalog, so.Programs, so.Sandboxes = st, log, cat, programs, mgr
	so.ClusterConfig, so.Terminals = cl.AdminConfig(), terminal.NewManager(terminal.Options{Log: log})
	so.Assets, so.Ready = os.DirFS("../frontend"), cl.Ready
	so.Shell = func(ctx context.Context, session string, sb *sandbox.Sandbox) (terminal.Process, error) {
		ss, err := mgr.Session(ctx, session)
		if err != nil {
			return nil, err
		}
		shells.Add(1)
		return j.Shell(ctx, labshell.Spec(session, ss.Chapter, sb))
	}
	so.Solve = func(ctx context.Context, ss sandbox.Session, sb *sandbox.Sandbox, script string) ([]byte, error) {
		return j.Run(ctx, labshell.Spec(ss.ID+"-solve", ss.Chapter, sb), script)
	}
	srv, err := New(so)
	srvRef.Store(srv)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Run(ctx) }()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Shutdown(context.WithoutCancel(t.Context()))
		cancel()
		<-done
	})
	return &testStack{srv: srv, url: hs.URL, store: st, shells: shells}
}

func (ts *testStack) client(t *testing.T) *testClient { return newTestClient(t, ts.url) }

// testLog writes to the test's log while it runs.
type testLog struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testLog) Write(b []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}
