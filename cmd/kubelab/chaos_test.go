package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/sandbox"
)

// chaosRounds is how many times kubelab dies in TestChaos; every fourth
// round its private PostgreSQL dies instead.
const chaosRounds = 20

// TestChaos kills kubelab with -9 at random moments while learners sign
// up, start and end labs and reveal solutions, and in every fourth round
// kills its private PostgreSQL instead (kubelab must then stop by itself:
// nothing restarts the database under it). After every restart:
//   - nothing a learner was told is lost: every account answered 201 logs
//     in, every lab answered 200/202 is there (ready again, or ended if its
//     end was answered 204), every revealed solution keeps its first time,
//     every task the event stream showed passed stays passed;
//   - nothing is orphaned: no process of the dead kubelab lives on (shells,
//     jails, PostgreSQL, clusters of one's own), and the sandboxes on the
//     cluster are exactly those the live labs own;
//   - the learners' labs resume: a learner's shell answers in the same
//     namespace, live grading turns a task green again, and a learner's own
//     cluster is back.
func TestChaos(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (rounds kill at random moments)", seed)
	ch := &chaos{t: t, dir: t.TempDir(), rng: rand.New(rand.NewPCG(seed, seed>>1)), accounts: map[string]bool{},
		labs: map[string]*chaosLab{}, reveals: map[string]time.Time{}}
	ch.start()
	// An account works in chapter pods (its shell, live grading and
	// progress are checked), a guest in replicasets (its shell), and a
	// learner in a cluster of their own (checked every fifth round: it
	// restarts its control plane after each kill).
	ch.residents = []*resident{ch.newResident("pods", true), ch.newResident("replicasets", false), ch.newResident("scheduling", true)}
	for _, r := range ch.residents {
		ch.resume(r, true)
	}
	var restarts []time.Duration
	for round := 1; round <= chaosRounds; round++ {
		killDB := round%4 == 0
		ch.round(round, killDB)
		t0 := time.Now()
		ch.start()
		restarts = append(restarts, time.Since(t0))
		t1 := time.Now()
		ch.verify(round)
		t.Logf("round %d: restart → ready %v, checks %v", round, restarts[round-1].Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	}
	slices.Sort(restarts)
	t.Logf("measure: %d rounds; restart after the kill → /readyz 200: p50 %v, max %v", chaosRounds,
		restarts[len(restarts)/2].Round(time.Millisecond), restarts[len(restarts)-1].Round(time.Millisecond))
}

type chaos struct {
	t   *testing.T
	dir string
	p   *kubelabProc
	rng *rand.Rand

	residents []*resident

	mu       sync.Mutex           // guards the ledger below and rng while workers run
	n        int                  // names of new learners
	accounts map[string]bool      // email → not yet logged in since it was made
	labs     map[string]*chaosLab // by session id
	reveals  map[string]time.Time // "user task" → the first reveal's time
}

// chaosLab is a lab the API acknowledged, with whom it belongs to.
type chaosLab struct {
	c      *chaosClient
	ended  bool // its DELETE answered 204
	ending bool // a DELETE got no answer: it may or may not have ended
	fresh  bool // started or ended since the last check
}

// resident is a learner whose lab lives through every round.
type resident struct {
	c       *chaosClient
	chapter string
	id      string // the session
	ns      string
}

// start runs kubelab on the test's data dir; the learners follow it to
// its new port.
func (ch *chaos) start() {
	ch.p = startKubelab(ch.t, ch.dir, "KUBELAB_ENTRY_BURST=10000", "KUBELAB_ENTRY_BURST_PER_IP=10000")
}

func (ch *chaos) base() string { return ch.p.url }

// round loads kubelab with three workers and kills it, or its database,
// at a random moment.
func (ch *chaos) round(n int, killDB bool) {
	t := ch.t
	before := descendantsOf(ch.p.cmd.Process.Pid)
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() { ch.work(ctx, w) })
	}
	ch.mu.Lock()
	wait := time.Duration(300+ch.rng.IntN(1700)) * time.Millisecond
	ch.mu.Unlock()
	time.Sleep(wait)
	if killDB {
		pm := postmasterPID(t, ch.dir)
		if err := syscall.Kill(pm, syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill -9 postgres %d: %v", n, pm, err)
		}
		// Nothing restarts the database: kubelab must stop, and say why.
		exited := make(chan error, 1)
		go func() { exited <- ch.p.cmd.Wait() }()
		select {
		case err := <-exited:
			if err == nil || !strings.Contains(ch.p.output(), "the private PostgreSQL exited unexpectedly") {
				t.Errorf("round %d: kubelab after its PostgreSQL died: exit %v; output ends:\n%s", n, err, tail(ch.p.output(), 2000))
			}
		case <-time.After(time.Minute):
			_ = ch.p.cmd.Process.Kill()
			<-exited
			t.Fatalf("round %d: kubelab kept running a minute after its PostgreSQL died; output ends:\n%s", n, tail(ch.p.output(), 2000))
		}
	} else {
		if err := ch.p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = ch.p.cmd.Wait()
	}
	stop()
	wg.Wait()
	ch.mu.Lock()
	t.Logf("round %d: killed %s after %v; acknowledged so far: %d accounts, %d labs, %d reveals", n,
		map[bool]string{true: "PostgreSQL", false: "kubelab"}[killDB], wait, len(ch.accounts), len(ch.labs), len(ch.reveals))
	ch.mu.Unlock()
	// No process of the dead kubelab outlives it: shells and jails,
	// PostgreSQL, the learners' own clusters.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		alive := stillAlive(before)
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("round %d: processes of the killed kubelab still run 30 s later: %s", n, strings.Join(alive, "; "))
		}
	}
}

// work acts as learners until ctx ends: new accounts, labs started and
// ended, solutions revealed. Only what kubelab answered counts, in the
// ledger; refusals while it dies are expected.
func (ch *chaos) work(ctx context.Context, w int) {
	for ctx.Err() == nil {
		ch.mu.Lock()
		op := ch.rng.IntN(4)
		ch.n++
		name := fmt.Sprintf("chaos-%d-%d", ch.n, w)
		live := 0
		var open []string
		for id, l := range ch.labs {
			if !l.ended {
				live++
				open = append(open, id)
			}
		}
		slices.Sort(open)
		var pick string
		if len(open) > 0 {
			pick = open[ch.rng.IntN(len(open))]
		}
		chapter := []string{"orientation", "replicasets", "labels"}[ch.rng.IntN(3)]
		task := []string{"run-hello-web", "declarative-pod", "ports-and-requests"}[ch.rng.IntN(3)]
		r := ch.residents[ch.rng.IntN(2)] // the two in chapter pods
		ch.mu.Unlock()
		if live >= 8 {
			op = 2 // keep the number of labs (shells, namespaces) small
		}
		switch op {
		case 0: // sign up
			c := ch.client()
			email := name + "@example.com"
			if code, _, err := c.call(ctx, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": "chaos password"}); err == nil && code == http.StatusCreated {
				ch.mu.Lock()
				ch.accounts[email] = true
				ch.mu.Unlock()
			}
		case 1: // a guest starts a lab
			c := ch.client()
			if code, _, err := c.call(ctx, "POST", "/api/v1/auth/guest", nil); err != nil || code != http.StatusCreated {
				continue
			}
			code, body, err := c.call(ctx, "POST", "/api/v1/chapters/"+chapter+"/session", map[string]string{})
			var ss chapterSession
			if err == nil && (code == http.StatusOK || code == http.StatusAccepted) && json.Unmarshal(body, &ss) == nil && ss.ID != "" {
				ch.mu.Lock()
				ch.labs[ss.ID] = &chaosLab{c: c, fresh: true}
				ch.mu.Unlock()
			}
		case 2: // a learner ends a lab
			if pick == "" {
				continue
			}
			ch.mu.Lock()
			l := ch.labs[pick]
			ch.mu.Unlock()
			code, _, err := l.c.call(ctx, "DELETE", "/api/v1/sessions/"+pick, nil)
			ch.mu.Lock()
			l.fresh = true
			if err == nil && code == http.StatusNoContent {
				l.ended = true
			} else {
				l.ending = true
			}
			ch.mu.Unlock()
		case 3: // a resident reveals a solution: progress
			code, body, err := r.c.call(ctx, "POST", "/api/v1/chapters/pods/tasks/"+task+"/solution", map[string]string{})
			var sol struct {
				RevealedAt time.Time `json:"revealed_at"`
			}
			if err == nil && code == http.StatusOK && json.Unmarshal(body, &sol) == nil {
				key := r.c.name + " " + task
				ch.mu.Lock()
				if first, ok := ch.reveals[key]; ok && !first.Equal(sol.RevealedAt) {
					ch.t.Errorf("%s: revealed at %v, then at %v: the first reveal's time was lost", key, first, sol.RevealedAt)
				}
				ch.reveals[key] = sol.RevealedAt
				ch.mu.Unlock()
			}
		}
	}
}

// verify checks, after a restart, that nothing acknowledged was lost,
// nothing is orphaned, and the residents' labs resume.
func (ch *chaos) verify(round int) {
	t := ch.t
	ctx := t.Context()
	ch.mu.Lock()
	defer ch.mu.Unlock()

	t0 := time.Now()
	var took []string
	lap := func(what string) {
		took = append(took, fmt.Sprintf("%s %v", what, time.Since(t0).Round(time.Millisecond)))
		t0 = time.Now()
	}
	defer func() { t.Logf("round %d checks: %s", round, strings.Join(took, ", ")) }()
	// Accounts: every one is in the database, and two log in (a login
	// hashes a password): the newest and one at random.
	db := ch.db(ctx)
	defer db.Close(context.WithoutCancel(ctx))
	emails := slices.Sorted(maps.Keys(ch.accounts))
	var found []string
	rows, err := db.Query(ctx, `SELECT email FROM users WHERE email = ANY($1)`, emails)
	if err == nil {
		found, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		t.Fatalf("round %d: read accounts: %v", round, err)
	}
	if slices.Sort(found); !slices.Equal(found, emails) {
		t.Errorf("round %d: %d accounts answered 201, %d in the database", round, len(emails), len(found))
	}
	for i := range min(2, len(emails)) {
		email := emails[len(emails)-1]
		if i > 0 {
			email = emails[ch.rng.IntN(len(emails))]
		}
		c := ch.client()
		if code, body, err := c.call(ctx, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "chaos password"}); err != nil || code != http.StatusOK {
			t.Errorf("round %d: account %s, created with 201, cannot log in: %d %s %v", round, email, code, body, err)
		}
	}
	lap("accounts")
	// Labs: each is there, ended if its end was answered, else ready again
	// (every live one, every one touched since the last check, a sample
	// of the rest). Labs made again after the kill take a moment: all are
	// waited for at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for id, l := range ch.labs {
		if l.ended && !l.fresh && ch.rng.IntN(len(ch.labs)) > 10 {
			continue
		}
		l.fresh = false
		want := []string{"ready"}
		switch {
		case l.ended:
			want = []string{"ended"}
		case l.ending: // its end got no answer: either is right
			want = []string{"ready", "ended"}
		}
		wg.Go(func() {
			got := waitStatus(ctx, l.c, id, want...)
			if !slices.Contains(want, got) {
				t.Errorf("round %d: lab %s (acknowledged) is %q after the restart, want %q", round, id, got, want)
			}
			mu.Lock()
			l.ended, l.ending = got == "ended", false
			mu.Unlock()
		})
	}
	wg.Wait()
	lap("labs")
	// Progress: the first reveal's time stays.
	for key, at := range ch.reveals {
		name, task, _ := strings.Cut(key, " ")
		r := ch.residentNamed(name)
		code, body, err := r.c.call(ctx, "POST", "/api/v1/chapters/pods/tasks/"+task+"/solution", map[string]string{})
		var sol struct {
			RevealedAt time.Time `json:"revealed_at"`
		}
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &sol) != nil || !sol.RevealedAt.Equal(at) {
			t.Errorf("round %d: %s: reveal at %v was answered, now %d %s %v", round, key, at, code, body, err)
		}
	}
	lap("reveals")
	// Orphans: the sandboxes on the cluster are those of the live labs.
	ch.sandboxesMatchLabs(ctx, round)
	lap("orphans")
	// The residents' labs resume; the cluster of one's own every few rounds
	// (it restarts its own control plane after each kill).
	for _, r := range ch.residents {
		if r.chapter == "scheduling" && round%5 != 0 {
			continue
		}
		ch.resume(r, false)
		lap(r.chapter)
	}
}

// resume checks a resident's lab after a (re)start: ready with the same
// namespace, its shell answers there, and live grading turns a task green
// (and the passed task stays passed in the learner's progress).
func (ch *chaos) resume(r *resident, first bool) {
	t := ch.t
	ctx := t.Context()
	if got := waitStatus(ctx, r.c, r.id, "ready"); got != "ready" {
		t.Fatalf("resident lab %s (%s) is %q, want ready", r.id, r.chapter, got)
	}
	ac := &apiClient{t: t, base: ch.base(), jar: r.c.jar, http: &http.Client{Jar: r.c.jar}}
	_, body := ac.do("GET", "/api/v1/sessions/"+r.id)
	var ss chapterSession
	if err := json.Unmarshal(body, &ss); err != nil {
		t.Fatal(err)
	}
	if first {
		r.ns = ss.Sandbox.Namespace
	} else if ss.Sandbox.Namespace != r.ns {
		t.Errorf("resident lab %s: namespace %q after the restart, was %q", r.id, ss.Sandbox.Namespace, r.ns)
	}
	term := openTerminal(t, ch.p, ac, r.id)
	if r.chapter == "scheduling" {
		term.run(`kubectl get nodes --no-headers | wc -l; echo nodes-$((40+2))`)
		term.waitFor("3\r\nnodes-42", 90*time.Second)
		term.ws.Close()
		return
	}
	term.run(`kubectl config view --minify -o jsonpath='{..namespace}'; echo; echo shell-$((40+2))`)
	term.waitFor(r.ns+"\r\nshell-42", 30*time.Second)
	term.ws.Close()
	if r.chapter != "pods" {
		return
	}

	// Live grading: the stream shows run-hello-web pass once its Pod runs.
	_, kc := ac.do("GET", "/api/v1/sessions/"+r.id+"/kubeconfig")
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatalf("resident kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	events, err := r.c.events(sctx, r.id)
	if err != nil {
		t.Fatalf("resident events: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-web", Labels: map[string]string{"run": "hello-web"}},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "hello-web", Image: "nginx:1.27"}}},
	}
	if _, err := cs.CoreV1().Pods(r.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("resident creates hello-web: %v", err)
	}
	green := false
	for ev := range events {
		if ev.name != "tasks" {
			continue
		}
		var results []taskResult
		if json.Unmarshal([]byte(ev.data), &results) == nil && slices.Contains(results, taskResult{ID: "run-hello-web", Passed: true}) {
			green = true
			break
		}
	}
	cancel()
	for range events { // the stream's reader ends with the context
	}
	if !green {
		t.Fatalf("resident lab %s: the event stream never showed run-hello-web passed after its Pod was made (no live grading after the restart?)", r.id)
	}
	if err := cs.CoreV1().Pods(r.ns).Delete(ctx, "hello-web", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := cs.CoreV1().Pods(r.ns).Get(ctx, "hello-web", metav1.GetOptions{}); apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hello-web is not deleted 30 s later")
		}
	}
	// Progress: a task once passed stays passed.
	_, body = ac.do("GET", "/api/v1/chapters/pods")
	var chapter struct {
		Tasks []struct{ ID, State string }
	}
	if err := json.Unmarshal(body, &chapter); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(chapter.Tasks, struct{ ID, State string }{"run-hello-web", "passed"}) {
		t.Errorf("resident %s: run-hello-web, shown passed, is not passed in the progress: %s", r.c.name, body)
	}
}

// newResident makes a learner (an account or a guest) with a ready lab.
func (ch *chaos) newResident(chapter string, account bool) *resident {
	t := ch.t
	ctx := t.Context()
	c := ch.client()
	ch.n++
	c.name = fmt.Sprintf("resident-%d", ch.n)
	if account {
		if code, body, err := c.call(ctx, "POST", "/api/v1/auth/signup", map[string]string{"email": c.name + "@example.com", "password": "chaos password"}); err != nil || code != http.StatusCreated {
			t.Fatalf("resident sign-up: %d %s %v", code, body, err)
		}
	} else if code, body, err := c.call(ctx, "POST", "/api/v1/auth/guest", nil); err != nil || code != http.StatusCreated {
		t.Fatalf("resident guest: %d %s %v", code, body, err)
	}
	code, body, err := c.call(ctx, "POST", "/api/v1/chapters/"+chapter+"/session", map[string]string{})
	var ss chapterSession
	if err != nil || (code != http.StatusOK && code != http.StatusAccepted) || json.Unmarshal(body, &ss) != nil {
		t.Fatalf("resident start: %d %s %v", code, body, err)
	}
	return &resident{c: c, chapter: chapter, id: ss.ID}
}

func (ch *chaos) residentNamed(name string) *resident {
	for _, r := range ch.residents {
		if r.c.name == name {
			return r
		}
	}
	ch.t.Fatalf("no resident %s", name)
	return nil
}

// sandboxesMatchLabs waits until the sandboxes on the cluster (namespaces
// of this kubelab, not being deleted) and the learners' own clusters are
// exactly those the live labs in the database own.
func (ch *chaos) sandboxesMatchLabs(ctx context.Context, round int) {
	t := ch.t
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(ch.dir, "cluster", "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := ch.db(ctx)
	defer db.Close(context.WithoutCancel(ctx))
	var onCluster, owned, clusters, ownClusters []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		// The simulated cluster is this kubelab's own: every sandbox on it is.
		nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sandbox.LabelManagedBy + "=" + sandbox.ManagedBy + "," + sandbox.LabelSandbox})
		if err != nil {
			t.Fatal(err)
		}
		onCluster = nil
		for _, ns := range nss.Items {
			if id := ns.Labels[sandbox.LabelSandbox]; ns.DeletionTimestamp == nil && !slices.Contains(onCluster, id) {
				onCluster = append(onCluster, id)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(ch.dir, "clusters"))
		clusters = nil
		for _, e := range entries {
			clusters = append(clusters, e.Name())
		}
		rows, err := db.Query(ctx, `SELECT sandbox_id, size FROM sandbox_sessions WHERE status IN ('provisioning', 'ready')`)
		if err != nil {
			t.Fatal(err)
		}
		owned, ownClusters = nil, nil
		for rows.Next() {
			var id, size string
			if err := rows.Scan(&id, &size); err != nil {
				t.Fatal(err)
			}
			if size == sandbox.ClusterClass {
				ownClusters = append(ownClusters, id)
			} else {
				owned = append(owned, id)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(onCluster)
		slices.Sort(owned)
		if slices.Equal(onCluster, owned) && len(clusters) == len(ownClusters) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("round %d: sandboxes on the cluster %v, owned by live labs %v; cluster dirs %v, cluster labs %v", round, onCluster, owned, clusters, ownClusters)
		}
	}
}

// db connects to kubelab's private PostgreSQL, as its superuser over the
// unix socket in the data dir: the ground truth of what kubelab stored.
func (ch *chaos) db(ctx context.Context) *pgx.Conn {
	ch.t.Helper()
	db, err := pgx.Connect(ctx, "postgres:///postgres?host="+filepath.Join(ch.dir, "postgres")+"&port=5432&user=kubelab&sslmode=disable")
	if err != nil {
		ch.t.Fatalf("connect to kubelab's database: %v", err)
	}
	return db
}

// chaosClient is a learner's browser that survives kubelab's restarts:
// the cookies stay (they are kept per host, not port), the address moves.
type chaosClient struct {
	ch   *chaos
	name string
	jar  *cookiejar.Jar
	http *http.Client
}

func (ch *chaos) client() *chaosClient {
	jar, _ := cookiejar.New(nil)
	return &chaosClient{ch: ch, jar: jar, http: &http.Client{Jar: jar, Timeout: time.Minute}}
}

// call sends body as JSON (nil: none) to the current kubelab.
func (c *chaosClient) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	base := c.ch.base()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Origin", base)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

type sseEvent struct{ name, data string }

// events follows a session's event stream until ctx ends.
func (c *chaosClient) events(ctx context.Context, id string) (<-chan sseEvent, error) {
	base := c.ch.base()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/sessions/"+id+"/events", nil)
	if err != nil {
		return nil, err
	}
	client := *c.http
	client.Timeout = 0
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("events: %d", res.StatusCode)
	}
	out := make(chan sseEvent)
	go func() { // ends with ctx, which closes the body
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
				ev = sseEvent{}
			}
		}
	}()
	return out, nil
}

// waitStatus waits up to a minute for a lab to reach one of want and
// returns the status it has then.
func waitStatus(ctx context.Context, c *chaosClient, id string, want ...string) string {
	var ss chapterSession
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		code, body, err := c.call(ctx, "GET", "/api/v1/sessions/"+id, nil)
		if err == nil && code == http.StatusOK && json.Unmarshal(body, &ss) == nil && slices.Contains(want, ss.Status) {
			return ss.Status
		}
		if err == nil && code != http.StatusOK {
			return fmt.Sprintf("answered %d %s", code, body)
		}
		if ss.Status == "failed" || time.Now().After(deadline) {
			return ss.Status
		}
	}
}

// postmasterPID reads the private PostgreSQL's pid from its data dir.
func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

// procID names a process across pid reuse: its pid and start time.
type procID struct {
	pid   int
	start string
	cmd   string
}

// descendantsOf lists the processes below pid.
func descendantsOf(pid int) []procID {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(p); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []procID
	for stack := children[pid]; len(stack) > 0; {
		p := stack[len(stack)-1]
		stack = append(stack[:len(stack)-1], children[p]...)
		if f := statFields(p); len(f) > 19 {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			out = append(out, procID{pid: p, start: f[19], cmd: strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")})
		}
	}
	return out
}

// statFields are the fields of /proc/pid/stat after the command name:
// state, ppid, … (field 22, the start time, is index 19).
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// stillAlive lists the processes of procs that still run (zombies are dead).
func stillAlive(procs []procID) []string {
	var out []string
	for _, p := range procs {
		if f := statFields(p.pid); len(f) > 19 && f[19] == p.start && f[0] != "Z" {
			out = append(out, fmt.Sprintf("%d %s", p.pid, p.cmd))
		}
	}
	return out
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
