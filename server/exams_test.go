package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
	"github.com/kubelab/kubelab/server/store"
)

// waitAttempt polls an attempt until its status is want.
func waitAttempt(t *testing.T, c *testClient, id, want string) attemptJSON {
	t.Helper()
	var a attemptJSON
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, body := c.do(t, "GET", "/api/v1/attempts/"+id, nil)
		if res.StatusCode != 200 {
			t.Fatalf("get attempt: %d %s", res.StatusCode, body)
		}
		a = decode[attemptJSON](t, body)
		if a.Status == want {
			return a
		}
	}
	t.Fatalf("attempt %s is %s, want %s", id, a.Status, want)
	return a
}

// TestExamAttempt: a candidate starts an attempt; the clock starts once
// the sandbox is ready and its deadline stays put; the tasks name the
// real namespace; the review is a 404 until the end; one task done with
// the attempt's kubeconfig from outside, then a submit: the review scores
// it, says what each failed check wanted, and the candidate's credentials
// stop working. Another learner gets a 404 for all of it.
func TestExamAttempt(t *testing.T) {
	t.Parallel()
	kubectl, err := kubectltest.Path()
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestStack(t, withExams(t, "../labs/exams/testdata/good"))
	c := guest(t, ts)
	other := guest(t, ts)

	res, body := c.do(t, "GET", "/api/v1/exams", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"id":"mini"`) || !strings.Contains(string(body), `"pass_mark":66`) {
		t.Fatalf("exams: %d %s", res.StatusCode, body)
	}
	res, body = c.do(t, "POST", "/api/v1/exams/mini/attempts", nil)
	if res.StatusCode != 202 {
		t.Fatalf("start attempt: %d %s", res.StatusCode, body)
	}
	id := decode[attemptJSON](t, body).ID
	a := waitAttempt(t, c, id, "running")
	if a.Deadline == nil || a.Deadline.Sub(a.Now) < 19*time.Minute || len(a.Tasks) != 3 {
		t.Fatalf("running attempt: deadline %v (now %v), %d tasks", a.Deadline, a.Now, len(a.Tasks))
	}
	if again := waitAttempt(t, c, id, "running"); !again.Deadline.Equal(*a.Deadline) {
		t.Errorf("the deadline moved from %v to %v", a.Deadline, again.Deadline)
	}
	for _, task := range a.Tasks {
		if !strings.HasPrefix(task.Namespace, "kl-") || !strings.Contains(task.Switch, task.Namespace) || task.Text == "" {
			t.Errorf("task %s: namespace %q, switch %q, text %q", task.ID, task.Namespace, task.Switch, task.Text)
		}
	}
	for _, path := range []string{"/api/v1/attempts/" + id, "/api/v1/attempts/" + id + "/review", "/api/v1/attempts/" + id + "/kubeconfig"} {
		if res, _ := other.do(t, "GET", path, nil); res.StatusCode != 404 {
			t.Errorf("another learner GET %s = %d, want 404", path, res.StatusCode)
		}
	}
	if res, _ := other.do(t, "POST", "/api/v1/attempts/"+id+"/submit", nil); res.StatusCode != 404 {
		t.Errorf("another learner's submit = %d, want 404", res.StatusCode)
	}
	if res, body := c.do(t, "GET", "/api/v1/attempts/"+id+"/review", nil); res.StatusCode != 404 || !strings.Contains(string(body), errReviewNotYet.message) {
		t.Errorf("review before the end: %d %s", res.StatusCode, body)
	}
	flag := true
	if res, body := c.do(t, "PATCH", "/api/v1/attempts/"+id+"/tasks/"+a.Tasks[0].ID, markJSON{Flagged: &flag}); res.StatusCode != 200 {
		t.Errorf("flag a task: %d %s", res.StatusCode, body)
	}

	// The first task, done from the candidate's own machine.
	res, kc := c.raw(t, "GET", "/api/v1/attempts/"+id+"/kubeconfig", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("kubeconfig: %d %s", res.StatusCode, kc)
	}
	config := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(config, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	kube := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), kubectl, append([]string{"--kubeconfig", config, "--request-timeout", "20s"}, args...)...)
		cmd.Env = []string{"HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	first := a.Tasks[0]
	d, err := ts.srv.drawOf(mustAttempt(t, ts, id))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ts.srv.sandboxes.Session(t.Context(), a.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	// The reference solution, as the shell would run it: kubectl on PATH,
	// the namespaces in NS and NS_<NAME>.
	sh := exec.CommandContext(t.Context(), "bash", "-c", d.chapter.Tasks[0].Solution)
	sh.Env = []string{"HOME=" + t.TempDir(), "KUBECONFIG=" + config, "PATH=" + filepath.Dir(kubectl) + ":/usr/bin:/bin",
		"NS=" + ss.Namespace, "NS_WEB=" + ss.Namespaces["web"], "NS_DATA=" + ss.Namespaces["data"]}
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("task %s's solution: %v\n%s", first.ID, err, out)
	}

	// The last task (the config domain's: a ConfigMap in namespace data),
	// done in the default namespace instead.
	last := d.chapter.Tasks[len(d.chapter.Tasks)-1]
	sh = exec.CommandContext(t.Context(), "bash", "-c", last.Solution)
	sh.Env = []string{"HOME=" + t.TempDir(), "KUBECONFIG=" + config, "PATH=" + filepath.Dir(kubectl) + ":/usr/bin:/bin",
		"NS=" + ss.Namespace, "NS_DATA=" + ss.Namespace}
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("task %s's solution in the wrong namespace: %v\n%s", last.ID, err, out)
	}

	res, body = c.do(t, "POST", "/api/v1/attempts/"+id+"/submit", nil)
	if res.StatusCode != 200 {
		t.Fatalf("submit: %d %s", res.StatusCode, body)
	}
	res, body = c.do(t, "GET", "/api/v1/attempts/"+id+"/review", nil)
	if res.StatusCode != 200 {
		t.Fatalf("review: %d %s", res.StatusCode, body)
	}
	var rv reviewJSON
	if err := json.Unmarshal(body, &rv); err != nil {
		t.Fatal(err)
	}
	if rv.Tasks[0].ID != first.ID || !rv.Tasks[0].Passed || rv.Tasks[0].Score != float64(first.Weight) {
		t.Errorf("review of the task done: %+v", rv.Tasks[0])
	}
	if rv.Score != float64(first.Weight) || rv.Passed || rv.PassMark != 66 {
		t.Errorf("review: score %v of %d, passed %v (pass mark %d), want %d and a fail", rv.Score, rv.MaxScore, rv.Passed, rv.PassMark, first.Weight)
	}
	if got := rv.Tasks[len(rv.Tasks)-1].Checks[0]; got.Passed || got.Elsewhere != ss.Namespace {
		t.Errorf("the task done in the wrong namespace: %+v, want elsewhere = %s", got, ss.Namespace)
	}
	for _, task := range rv.Tasks[1:] {
		if task.Passed || len(task.Checks) == 0 || task.Checks[0].Passed || task.Checks[0].Message == "" || task.Solution == "" {
			t.Errorf("review of a task not done: %+v", task)
		}
	}
	if res, _ := c.do(t, "POST", "/api/v1/attempts/"+id+"/submit", nil); res.StatusCode != 409 {
		t.Errorf("a second submit = %d, want 409", res.StatusCode)
	}
	if out, err := kube("create", "configmap", "after-the-end", "--from-literal=a=b"); err == nil {
		t.Errorf("after the end the candidate could still write: %s", out)
	}
}

func mustAttempt(t *testing.T, ts *testStack, id string) store.Attempt {
	t.Helper()
	a, err := ts.store.GetAttempt(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestExamDeadlineGradesWithoutAPage: at the deadline the server grades
// the attempt and ends its sandbox with no page asking.
func TestExamDeadlineGradesWithoutAPage(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, withExams(t, "../labs/exams/testdata/good"))
	c := guest(t, ts)
	res, body := c.do(t, "POST", "/api/v1/exams/mini/attempts", nil)
	if res.StatusCode != 202 {
		t.Fatalf("start attempt: %d %s", res.StatusCode, body)
	}
	a := waitAttempt(t, c, decode[attemptJSON](t, body).ID, "running")
	// The time is up (as if two hours had passed); nobody looks.
	if _, err := ts.store.SetAttemptDeadline(t.Context(), a.ID, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	var got store.Attempt
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = mustAttempt(t, ts, a.ID); got.Status == store.AttemptFinished {
			break
		}
	}
	if got.Status != store.AttemptFinished || got.Review == nil {
		t.Fatalf("after its deadline the attempt is %s (review %s)", got.Status, got.Review)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ss, err := ts.srv.sandboxes.Session(t.Context(), a.SessionID); err == nil && ss.Status == "ended" {
			return
		}
	}
	t.Error("the attempt's sandbox still runs after its deadline")
}
