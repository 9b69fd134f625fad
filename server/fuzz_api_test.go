package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/jail/jailtest"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
	"github.com/kubelab/kubelab/server/store/storetest"
	"github.com/kubelab/kubelab/server/terminal"
)

// fuzzRoutes are the session API's calls a learner's page makes, with
// {chapter}, {id} and {task} standing for path values.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/auth/guest"},
	{"POST", "/api/v1/chapters/{chapter}/session"},
	{"GET", "/api/v1/sessions/{id}"},
	{"POST", "/api/v1/sessions/{id}/extend"},
	{"POST", "/api/v1/sessions/{id}/tasks/{task}/check"},
	{"POST", "/api/v1/chapters/{chapter}/tasks/{task}/solution"},
	{"POST", "/api/v1/sessions/{id}/reset"},
	{"GET", "/api/v1/sessions/{id}/tasks"},
	{"POST", "/api/v1/sessions/{id}/activity"},
}

// FuzzSessionAPI sends any JSON body and any path values to the session
// API — start a lab, get, extend, check, reveal a solution, reset — through
// the real handlers of a whole stack (PostgreSQL, the simulated cluster,
// jails), as a learner holding a ready lab. kubelab must never answer 5xx
// or panic: bad input gets a 4xx whose JSON body says what is wrong.
//
// The op byte picks the route (low bits), whether the path values are the
// learner's own lab and chapter rather than the fuzzed strings (bits 5 and
// 7), and whether the body is sent as text instead of JSON (bit 6). The
// seeds are in testdata/fuzz/FuzzSessionAPI, one per case, named for it.
func FuzzSessionAPI(f *testing.F) {
	base, c, lab, logs := newFuzzStack(f)
	f.Fuzz(func(t *testing.T, op uint8, value, task, body string, escape bool) {
		route := fuzzRoutes[int(op&0x0f)%len(fuzzRoutes)]
		chapter, id := value, value
		if op&0x20 != 0 {
			chapter = "pods"
		}
		if op&0x80 != 0 {
			id = lab
		}
		seg := func(s string) string {
			if escape {
				return url.PathEscape(s)
			}
			return s
		}
		path := strings.NewReplacer("{chapter}", seg(chapter), "{id}", seg(id), "{task}", seg(task)).Replace(route.path)
		if _, err := url.ParseRequestURI(base + path); err != nil {
			return // no browser can send it
		}
		header := map[string]string{}
		if op&0x40 != 0 {
			header["Content-Type"] = "text/plain"
		}
		logs.recent() // what earlier inputs made kubelab log is theirs
		res, data := c.raw(t, route.method, path, body, header)
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s with body %q: %d %s\nkubelab logged:\n%s", route.method, path, body, res.StatusCode, data, logs.recent())
		}
		if res.StatusCode < 400 {
			return
		}
		var e apiError
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" || e.RequestID == "" {
			t.Fatalf("%s %s with body %q: %d %q, want a JSON error with a message and a request id", route.method, path, body, res.StatusCode, data)
		}
	})
}

// newFuzzStack is newTestStack for a fuzz target (which has no *testing.T
// until an input runs): a whole kubelab behind an httptest server, and a
// guest's browser holding a ready lab of chapter pods.
func newFuzzStack(f *testing.F) (base string, c *testClient, lab string, logs *fuzzLog) {
	f.Helper()
	st := storetest.NewDB(f)
	logs = &fuzzLog{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	cat, err := labs.Load(labs.Bundled(), labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		f.Fatalf("load bundled chapters: %v", err)
	}
	programs := map[string]*grader.Program{}
	for _, ch := range cat.Chapters() {
		if programs[ch.ID], err = grader.Compile(ch); err != nil {
			f.Fatal(err)
		}
	}
	cl := simclustertest.Cluster(f)
	prov := namespaced.New(namespaced.Options{Config: cl.AdminConfig(), Simulated: true, Log: log, Instance: "fz" + time.Now().Format("150405.000000")[7:]})
	j := jailtest.New(f, jailtest.Options(f))
	mgr := sandbox.NewManager(sandbox.ManagerOptions{Provisioner: prov, Store: st, Log: log, Simulated: true, Prepare: labshell.Setup(cat, j, prov)})
	srv, err := New(Options{Store: st, Log: log, Catalog: cat, Programs: programs, Sandboxes: mgr, Simulated: true,
		ClusterConfig: cl.AdminConfig(), Terminals: terminal.NewManager(terminal.Options{Log: log}),
		Assets: os.DirFS("../frontend"), Ready: cl.Ready,
		Shell: func(ctx context.Context, session string, sb *sandbox.Sandbox) (terminal.Process, error) {
			ss, err := mgr.Session(ctx, session)
			if err != nil {
				return nil, err
			}
			return j.Shell(ctx, labshell.Spec(session, ss.Chapter, sb))
		}})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Run(ctx) }()
	hs := httptest.NewServer(srv.Handler())
	f.Cleanup(func() {
		hs.Close()
		sctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		_ = srv.Shutdown(sctx)
		cancel()
		<-done
	})

	jar, err := cookiejar.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	c = &testClient{base: hs.URL, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	call := func(method, path string) []byte {
		req, err := http.NewRequest(method, hs.URL+path, strings.NewReader("{}"))
		if err != nil {
			f.Fatal(err)
		}
		req.Header.Set("Origin", hs.URL)
		req.Header.Set("Content-Type", "application/json")
		res, err := c.http.Do(req)
		if err != nil {
			f.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode >= 300 {
			f.Fatalf("%s %s: %d %s %v", method, path, res.StatusCode, b, err)
		}
		return b
	}
	call("POST", "/api/v1/auth/guest")
	var ss sessionJSON
	if err := json.Unmarshal(call("POST", "/api/v1/chapters/pods/session"), &ss); err != nil {
		f.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ss.Status != sandbox.StatusReady; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.Fatalf("the fuzzing learner's lab is %q after a minute", ss.Status)
		}
		if err := json.Unmarshal(call("GET", "/api/v1/sessions/"+ss.ID), &ss); err != nil {
			f.Fatal(err)
		}
	}
	return hs.URL, c, ss.ID, logs
}

// fuzzLog keeps kubelab's last error lines for a failing input's message
// (a fuzz target may not log through f while inputs run).
type fuzzLog struct {
	mu    sync.Mutex
	lines []string
}

func (w *fuzzLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines[max(0, len(w.lines)-9):], strings.TrimSpace(string(b)))
	return len(b), nil
}

// recent returns the kept lines and forgets them.
func (w *fuzzLog) recent() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := strings.Join(w.lines, "\n")
	w.lines = nil
	return out
}
