package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// guest returns a client logged in as a new guest.
func guest(t *testing.T, ts *testStack) *testClient {
	t.Helper()
	c := ts.client(t)
	if res, body := c.do(t, "POST", "/api/v1/auth/guest", nil); res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		t.Fatalf("guest: %d %s", res.StatusCode, body)
	}
	return c
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// startReady starts a session for chapter and waits until it is ready.
func startReady(t *testing.T, c *testClient, chapter string) sessionJSON {
	t.Helper()
	res, body := c.do(t, "POST", "/api/v1/chapters/"+chapter+"/session", nil)
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted {
		t.Fatalf("start %s: %d %s", chapter, res.StatusCode, body)
	}
	return waitSession(t, c, decode[sessionJSON](t, body).ID, "ready")
}

func waitSession(t *testing.T, c *testClient, id, status string) sessionJSON {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var ss sessionJSON
	for time.Now().Before(deadline) {
		res, body := c.do(t, "GET", "/api/v1/sessions/"+id, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("get session %s: %d %s", id, res.StatusCode, body)
		}
		if ss = decode[sessionJSON](t, body); ss.Status == status {
			return ss
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("session %s is %q (%s), want %q", id, ss.Status, ss.Reason, status)
	return ss
}

type streamEvent struct{ name, data string }

// events follows a session's server-sent events until the test ends.
func events(t *testing.T, c *testClient, id string) <-chan streamEvent {
	t.Helper()
	return streamAt(t, c, "/api/v1/sessions/"+id+"/events")
}

// streamAt follows the server-sent events at path until the test ends.
func streamAt(t *testing.T, c *testClient, path string) <-chan streamEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan streamEvent, 256)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev streamEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				out <- ev
				ev = streamEvent{}
			}
		}
	}()
	return out
}

// waitEvent reads events until match accepts one.
func waitEvent(t *testing.T, evs <-chan streamEvent, what string, match func(streamEvent) bool) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	var seen []string
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("the event stream ended before %s; saw %v", what, seen)
			}
			seen = append(seen, ev.name)
			if match(ev) {
				return
			}
		case <-timeout:
			t.Fatalf("no event for %s; saw %v", what, seen)
		}
	}
}

// learnerClient is client-go with the kubeconfig kubelab hands the learner.
func learnerClient(t *testing.T, c *testClient, id string) (*kubernetes.Clientset, string) {
	t.Helper()
	res, body := c.do(t, "GET", "/api/v1/sessions/"+id+"/kubeconfig", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("kubeconfig: %d %s", res.StatusCode, body)
	}
	if got := res.Header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") {
		t.Errorf("Content-Disposition = %q, want an attachment", got)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store: the file holds a credential", got)
	}
	kc, err := clientcmd.Load(body)
	if err != nil {
		t.Fatalf("the kubeconfig does not parse: %v\n%s", err, body)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, kc.Contexts[kc.CurrentContext].Namespace
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := guest(t, ts)

	res, body := c.do(t, "POST", "/api/v1/chapters/pods/session", nil)
	if res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusOK {
		t.Fatalf("start: %d %s", res.StatusCode, body)
	}
	first := decode[sessionJSON](t, body)
	evs := events(t, c, first.ID)
	waitEvent(t, evs, "the ready status", func(ev streamEvent) bool {
		return ev.name == "status" && decode[sessionJSON](t, []byte(ev.data)).Status == "ready"
	})
	ss := waitSession(t, c, first.ID, "ready")
	if ss.Chapter != "pods" || ss.Sandbox.Namespace == "" || !ss.Sandbox.Simulated || ss.Sandbox.ExpiresAt == nil {
		t.Errorf("ready session = %+v", ss)
	}

	// Starting again resumes the same session.
	if res, body := c.do(t, "POST", "/api/v1/chapters/pods/session", nil); res.StatusCode != http.StatusOK || decode[sessionJSON](t, body).ID != ss.ID {
		t.Errorf("second start: %d %s, want 200 with session %s", res.StatusCode, body, ss.ID)
	}

	// The downloaded kubeconfig works, in the session's namespace only.
	cs, ns := learnerClient(t, c, ss.ID)
	if ns != ss.Sandbox.Namespace {
		t.Errorf("kubeconfig namespace = %q, want %q", ns, ss.Sandbox.Namespace)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-reset"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with the learner's kubeconfig: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("kube-system").List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list kube-system with the learner's kubeconfig: %v, want Forbidden", err)
	}

	// Extend moves the expiry, up to the cap; past it a clear 409.
	expiry := *ss.Sandbox.ExpiresAt
	for i := 0; ; i++ {
		res, body := c.do(t, "POST", "/api/v1/sessions/"+ss.ID+"/extend", nil)
		if res.StatusCode == http.StatusConflict {
			if msg := decode[apiError](t, body).Error; !strings.Contains(msg, "cannot be extended further") {
				t.Errorf("extend past the cap says %q", msg)
			}
			if i == 0 {
				t.Error("the first extend was refused")
			}
			break
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("extend: %d %s", res.StatusCode, body)
		}
		next := *decode[sessionJSON](t, body).Sandbox.ExpiresAt
		if !next.After(expiry) {
			t.Fatalf("extend %d: expiry %s did not move past %s", i, next, expiry)
		}
		expiry = next
		if i > 20 {
			t.Fatal("extend never reached its cap")
		}
	}

	// Reset: a fresh sandbox for the same session.
	if res, body := c.do(t, "POST", "/api/v1/sessions/"+ss.ID+"/reset", nil); res.StatusCode != http.StatusAccepted {
		t.Fatalf("reset: %d %s", res.StatusCode, body)
	}
	ss = waitSession(t, c, ss.ID, "ready")
	cs, ns = learnerClient(t, c, ss.ID)
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "before-reset", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after reset the old ConfigMap: %v, want NotFound", err)
	}

	// End: the session is over and its sandbox gone.
	if res, body := c.do(t, "DELETE", "/api/v1/sessions/"+ss.ID, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("end: %d %s", res.StatusCode, body)
	}
	waitSession(t, c, ss.ID, "ended")
	if res, body := c.do(t, "GET", "/api/v1/sessions/"+ss.ID+"/kubeconfig", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("kubeconfig of an ended session: %d %s, want 409", res.StatusCode, body)
	}
}

func TestTasksGradedLiveAndOnDemand(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := signupPageUser(t, ts.client(t), "grader@example.com", "Grace")

	// The chapter shows tasks but never their solutions.
	res, body := c.do(t, "GET", "/api/v1/chapters/pods", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("chapter: %d %s", res.StatusCode, body)
	}
	solution, err := os.ReadFile("../labs/01-pods/tasks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"solution", "kubectl run hello-web --image=nginx:1.27 --restart=Never"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the chapter JSON contains %q", leak)
		}
	}
	if !strings.Contains(string(solution), "kubectl run hello-web --image=nginx:1.27 --restart=Never") {
		t.Fatal("labs/01-pods changed: update the solution this test looks for")
	}

	ss := startReady(t, c, "pods")
	evs := events(t, c, ss.ID)
	res, body = c.do(t, "GET", "/api/v1/sessions/"+ss.ID+"/tasks", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("tasks: %d %s", res.StatusCode, body)
	}
	for _, r := range decode[[]taskResultJSON](t, body) {
		if r.Passed {
			t.Errorf("task %s passed in an empty sandbox", r.ID)
		}
	}

	// The learner does the first task with their own credentials.
	cs, ns := learnerClient(t, c, ss.ID)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-web", Labels: map[string]string{"run": "hello-web"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "hello-web", Image: "nginx:1.27"}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Live: the result arrives on the event stream without asking.
	waitEvent(t, evs, "run-hello-web passing", func(ev streamEvent) bool {
		if ev.name != "tasks" {
			return false
		}
		for _, r := range decode[[]taskResultJSON](t, []byte(ev.data)) {
			if r.ID == "run-hello-web" && r.Passed {
				return true
			}
		}
		return false
	})

	// On demand: the same verdict, with the detail of each check.
	res, body = c.do(t, "POST", "/api/v1/sessions/"+ss.ID+"/tasks/run-hello-web/check", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("check: %d %s", res.StatusCode, body)
	}
	r := decode[taskResultJSON](t, body)
	if !r.Passed || len(r.Checks) != 3 || r.Score != float64(r.Points) {
		t.Errorf("check result = %+v, want passed with 3 checks and full points", r)
	}
	for _, ck := range r.Checks {
		if !ck.Passed || ck.Error != "" {
			t.Errorf("check %+v", ck)
		}
	}
	res, body = c.do(t, "POST", "/api/v1/sessions/"+ss.ID+"/tasks/declarative-pod/check", nil)
	if r := decode[taskResultJSON](t, body); res.StatusCode != http.StatusOK || r.Passed || r.Checks[0].Detail == "" {
		t.Errorf("unfinished task: %d %+v, want not passed with expected-vs-actual detail", res.StatusCode, r)
	}

	// The progress is stored: the chapter shows it.
	_, body = c.do(t, "GET", "/api/v1/chapters/pods", nil)
	ch := decode[struct {
		Tasks    []taskJSON   `json:"tasks"`
		Progress progressJSON `json:"progress"`
	}](t, body)
	passed := map[string]bool{}
	for _, task := range ch.Tasks {
		passed[task.ID] = task.Passed
	}
	if !passed["run-hello-web"] || passed["declarative-pod"] || ch.Progress.Passed != 1 {
		t.Errorf("chapter progress = %+v, tasks %v", ch.Progress, passed)
	}
}

// TestOwnershipAndBadInput: a session is its owner's alone, and every bad
// request gets a clear JSON error.
func TestOwnershipAndBadInput(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	owner := guest(t, ts)
	ss := startReady(t, owner, "pods")
	other := guest(t, ts)
	anonymous := ts.client(t)
	id := ss.ID

	tests := []struct {
		name       string
		c          *testClient
		method     string
		path       string
		header     map[string]string
		wantStatus int
		wantError  string
	}{
		{"other: get", other, "GET", "/api/v1/sessions/" + id, nil, 404, errNotFound.message},
		{"other: end", other, "DELETE", "/api/v1/sessions/" + id, nil, 404, errNotFound.message},
		{"other: reset", other, "POST", "/api/v1/sessions/" + id + "/reset", nil, 404, errNotFound.message},
		{"other: extend", other, "POST", "/api/v1/sessions/" + id + "/extend", nil, 404, errNotFound.message},
		{"other: kubeconfig", other, "GET", "/api/v1/sessions/" + id + "/kubeconfig", nil, 404, errNotFound.message},
		{"other: tasks", other, "GET", "/api/v1/sessions/" + id + "/tasks", nil, 404, errNotFound.message},
		{"other: check", other, "POST", "/api/v1/sessions/" + id + "/tasks/run-hello-web/check", nil, 404, errNotFound.message},
		{"other: events", other, "GET", "/api/v1/sessions/" + id + "/events", nil, 404, errNotFound.message},
		{"other: terminal", other, "GET", "/api/v1/sessions/" + id + "/terminal", nil, 404, errNotFound.message},
		{"anonymous: get", anonymous, "GET", "/api/v1/sessions/" + id, nil, 401, ""},
		{"anonymous: start", anonymous, "POST", "/api/v1/chapters/pods/session", nil, 401, ""},
		{"unknown chapter", owner, "POST", "/api/v1/chapters/no-such-chapter/session", nil, 404, errNotFound.message},
		{"unknown session", owner, "GET", "/api/v1/sessions/no-such-session", nil, 404, errNotFound.message},
		{"unknown task", owner, "POST", "/api/v1/sessions/" + id + "/tasks/no-such-task/check", nil, 404, errNotFound.message},
		{"no Origin", owner, "POST", "/api/v1/sessions/" + id + "/extend", map[string]string{"Origin": ""}, 403, ""},
		{"foreign Origin", owner, "DELETE", "/api/v1/sessions/" + id, map[string]string{"Origin": "https://evil.example"}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, body := tt.c.raw(t, tt.method, tt.path, "", tt.header)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, res.StatusCode, body, tt.wantStatus)
			}
			e := decode[apiError](t, body)
			if e.Error == "" || (tt.wantError != "" && e.Error != tt.wantError) {
				t.Errorf("error body %s, want a JSON error %q", body, tt.wantError)
			}
		})
	}
	t.Cleanup(func() {
		// The owner's session is untouched by all of the above.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := ts.srv.sandboxes.Session(ctx, id)
		if err != nil || got.Status != "ready" {
			t.Errorf("owner's session after the attempts: %v %+v", err, got)
		}
	})
}

// TestSessionPerLearnerCap: one learner may not hold more labs than allowed;
// the refusal says what to do.
func TestSessionPerLearnerCap(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := guest(t, ts)
	var started []string
	for _, ch := range ts.srv.catalog.Chapters() {
		res, body := c.do(t, "POST", "/api/v1/chapters/"+ch.ID+"/session", nil)
		if res.StatusCode == http.StatusConflict {
			msg := decode[apiError](t, body).Error
			if !strings.Contains(msg, "end one") {
				t.Errorf("over the per-learner cap: %q, want advice to end one", msg)
			}
			if len(started) == 0 {
				t.Error("the first session was refused")
			}
			return
		}
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted {
			t.Fatalf("start %s: %d %s", ch.ID, res.StatusCode, body)
		}
		started = append(started, ch.ID)
	}
	t.Fatalf("started %d sessions (%s) without reaching the per-learner cap", len(started), strings.Join(started, ", "))
}
