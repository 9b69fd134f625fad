package server

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// instructor signs up an account and makes it an instructor.
func instructor(t *testing.T, ts *testStack, email string) *testClient {
	t.Helper()
	c := signupPageUser(t, ts.client(t), email, "Teacher "+email)
	me := decode[userJSON](t, mustCall(t, c, "GET", "/api/v1/me", nil, http.StatusOK))
	if _, err := ts.store.SetRole(t.Context(), me.ID, store.RoleInstructor); err != nil {
		t.Fatal(err)
	}
	return c
}

// mustCall makes an API call and fails the test unless it answers want.
func mustCall(t *testing.T, c *testClient, method, path string, v any, want int) []byte {
	t.Helper()
	res, body := c.do(t, method, path, v)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, body, want)
	}
	return body
}

// TestWorkshopJoinAndSeats: codes in any case join; a seat code works
// once; a full event says so; an ended one too.
func TestWorkshopJoinAndSeats(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	teach := instructor(t, ts, "t1@example.com")
	ev := decode[eventJSON](t, mustCall(t, teach, "POST", "/api/v1/events",
		map[string]any{"title": "Pods morning", "chapters": []string{"pods", "labels"}, "seats": 3}, http.StatusCreated))
	if len(ev.JoinCode) != 9 || !strings.HasSuffix(ev.JoinURL, "/join/"+ev.JoinCode) || ev.Status != workshopOpen {
		t.Fatalf("created event: %+v", ev)
	}
	codes := decode[map[string][]string](t, mustCall(t, teach, "POST", "/api/v1/events/"+ev.ID+"/seat-codes", map[string]int{"count": 1}, http.StatusCreated))["codes"]

	a, b, c, d := guest(t, ts), guest(t, ts), guest(t, ts), guest(t, ts)
	sloppy := strings.ToLower(strings.ReplaceAll(ev.JoinCode, "-", " "))
	joined := decode[struct {
		Event   eventJSON `json:"event"`
		Chapter string    `json:"chapter"`
	}](t, mustCall(t, a, "POST", "/api/v1/join", map[string]string{"code": sloppy}, http.StatusOK))
	if joined.Chapter != "pods" || joined.Event.JoinCode != "" {
		t.Errorf("join answer: %+v (want the first chapter and no codes)", joined)
	}
	mustCall(t, a, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusOK) // again: no change
	mustCall(t, b, "POST", "/api/v1/join", map[string]string{"code": codes[0]}, http.StatusOK)
	mustCall(t, c, "POST", "/api/v1/join", map[string]string{"code": codes[0]}, http.StatusNotFound) // used up
	mustCall(t, c, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusOK)
	full := mustCall(t, d, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusConflict)
	if !strings.Contains(string(full), "This event is full") {
		t.Errorf("a full event answers %s", full)
	}
	got := decode[eventJSON](t, mustCall(t, teach, "GET", "/api/v1/events/"+ev.ID, nil, http.StatusOK))
	if got.Joined != 3 {
		t.Errorf("joined = %d, want 3", got.Joined)
	}
	mustCall(t, teach, "PATCH", "/api/v1/events/"+ev.ID, map[string]any{"seats": 2}, http.StatusConflict)
	mustCall(t, teach, "PATCH", "/api/v1/events/"+ev.ID, map[string]any{"end": true}, http.StatusOK)
	mustCall(t, d, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusGone)
	list := decode[struct {
		Joined []eventJSON `json:"joined"`
	}](t, mustCall(t, a, "GET", "/api/v1/events", nil, http.StatusOK))
	if len(list.Joined) != 1 || list.Joined[0].ID != ev.ID || list.Joined[0].Status != workshopEnded {
		t.Errorf("a learner's joined events: %+v", list.Joined)
	}
}

// TestWorkshopAttacks: a learner reaches no instructor endpoint, another
// instructor reaches nothing of this event, and wrong codes are limited.
func TestWorkshopAttacks(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	teach := instructor(t, ts, "t2@example.com")
	other := instructor(t, ts, "t3@example.com")
	ev := decode[eventJSON](t, mustCall(t, teach, "POST", "/api/v1/events",
		map[string]any{"title": "Mine", "chapters": []string{"pods"}, "seats": 5}, http.StatusCreated))
	learner := guest(t, ts)
	mustCall(t, learner, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusOK)
	me := decode[userJSON](t, mustCall(t, learner, "GET", "/api/v1/me", nil, http.StatusOK))
	mustCall(t, learner, "POST", "/api/v1/events", map[string]any{"title": "x", "chapters": []string{"pods"}, "seats": 1}, http.StatusNotFound)
	base := "/api/v1/events/" + ev.ID
	calls := []struct{ method, path string }{
		{"GET", base}, {"PATCH", base}, {"DELETE", base}, {"POST", base + "/seat-codes"}, {"GET", base + "/grid"},
		{"GET", base + "/grid/events"}, {"POST", base + "/learners/-/end"}, {"POST", base + "/learners/" + me.ID + "/reset"},
		{"GET", base + "/learners/" + me.ID + "/terminal"}, {"POST", base + "/learners/" + me.ID + "/takeover"},
		{"POST", base + "/broadcast"}, {"GET", base + "/export.csv"}, {"GET", base + "/export.json"}, {"GET", base + "/audit"},
		{"GET", "/api/v1/users"}, {"PATCH", "/api/v1/users/" + me.ID},
	}
	for _, who := range []struct {
		name string
		c    *testClient
	}{{"a learner of the event", learner}, {"another instructor", other}} {
		for _, call := range calls {
			res, body := who.c.do(t, call.method, call.path, map[string]string{"message": "hi", "role": "instructor"})
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %s %s = %d %s, want 404", who.name, call.method, call.path, res.StatusCode, body)
			}
		}
	}
	// Guessing codes: after a few wrong ones, even tries are refused.
	guesser := guest(t, ts)
	limited := false
	for i := range 40 {
		res, _ := guesser.do(t, "POST", "/api/v1/join", map[string]string{"code": fmt.Sprintf("ZZZZ-%04d", i)})
		if res.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("wrong code %d: %d", i, res.StatusCode)
		}
	}
	if !limited {
		t.Fatal("40 wrong codes from one address were all answered: codes can be guessed")
	}
	mustCall(t, guesser, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusTooManyRequests)
}

// TestWorkshopGridIsLive: the instructor's grid stream shows a learner's
// task passing as the grader sees it (no Check), a raised hand with the
// failing check and the commands typed, a hint reaching only the
// learners failing the task, and the actions and the export.
func TestWorkshopGridIsLive(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	teach := instructor(t, ts, "t4@example.com")
	ev := decode[eventJSON](t, mustCall(t, teach, "POST", "/api/v1/events",
		map[string]any{"title": "Live", "chapters": []string{"pods"}, "seats": 10, "session_ttl_minutes": 20}, http.StatusCreated))
	base := "/api/v1/events/" + ev.ID
	grid := streamAt(t, teach, base+"/grid/events")
	waitEvent(t, grid, "the first grid", func(e streamEvent) bool { return e.name == "grid" })

	doer, idle := guest(t, ts), guest(t, ts)
	for _, c := range []*testClient{doer, idle} {
		mustCall(t, c, "POST", "/api/v1/join", map[string]string{"code": ev.JoinCode}, http.StatusOK)
	}
	doerID := decode[userJSON](t, mustCall(t, doer, "GET", "/api/v1/me", nil, http.StatusOK)).ID
	ss := startReady(t, doer, "pods")
	if d := time.Until(*ss.Sandbox.ExpiresAt); d > 21*time.Minute || d < 18*time.Minute {
		t.Errorf("a lab in the event lives %v, want the event's 20 minutes", d)
	}
	row := func(e streamEvent) (learnerJSON, bool) {
		var l learnerJSON
		if e.name != "learner" || json.Unmarshal([]byte(e.data), &l) != nil {
			return l, false
		}
		return l, l.ID == doerID
	}
	waitEvent(t, grid, "the doer on the first task, failing", func(e streamEvent) bool {
		l, ok := row(e)
		return ok && l.Current != nil && l.Current.Task == "run-hello-web" && l.Tasks[0].State == cellFailing && l.Tasks[0].Message != ""
	})

	learnerEvents := events(t, doer, ss.ID)
	mustCall(t, doer, "POST", "/api/v1/sessions/"+ss.ID+"/hand", map[string]string{"message": "my pod?"}, http.StatusCreated)
	waitEvent(t, grid, "the hand on the grid", func(e streamEvent) bool {
		l, ok := row(e)
		return ok && l.Hand != nil && l.Hand.Message == "my pod?" && l.Hand.Task == "run-hello-web" && l.Hand.Check != ""
	})
	sent := decode[map[string]int](t, mustCall(t, teach, "POST", base+"/broadcast",
		map[string]string{"message": "Try kubectl run", "chapter": "pods", "task": "run-hello-web"}, http.StatusOK))
	if sent["sent"] != 1 {
		t.Errorf("a hint on run-hello-web went to %d learners, want 1 (the other has no lab)", sent["sent"])
	}
	waitEvent(t, learnerEvents, "the hint in the learner's page", func(e streamEvent) bool {
		return e.name == "banner" && strings.Contains(e.data, "Try kubectl run") && strings.Contains(e.data, `"hint":true`)
	})

	// The learner does the task with their own credentials: the grid
	// turns it green by itself.
	cs, ns := learnerClient(t, doer, ss.ID)
	changed := time.Now()
	_, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hello-web", Labels: map[string]string{"run": "hello-web"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "hello-web", Image: "nginx:1.27"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, grid, "run-hello-web passed on the grid", func(e streamEvent) bool {
		l, ok := row(e)
		return ok && l.Tasks[0].State == cellPassed && l.Current != nil && l.Current.Task == "declarative-pod"
	})
	t.Logf("measure: change → grid cell %v", time.Since(changed).Round(time.Millisecond))

	// Everyone extended: the doer's lab is, the idle learner has none.
	res := decode[struct {
		Done   int                 `json:"done"`
		Failed []actionFailureJSON `json:"failed"`
	}](t, mustCall(t, teach, "POST", base+"/learners/-/extend", nil, http.StatusOK))
	if res.Done != 1 || len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Error, "no running lab") {
		t.Errorf("extend everyone: %+v", res)
	}
	// Fast-forward to the third task applies the second's solution.
	ff := decode[struct {
		Done   int                 `json:"done"`
		Failed []actionFailureJSON `json:"failed"`
	}](t, mustCall(t, teach, "POST", base+"/learners/"+doerID+"/fast-forward", map[string]string{"chapter": "pods", "task": "ports-and-requests"}, http.StatusOK))
	if ff.Done != 1 || len(ff.Failed) != 0 {
		t.Fatalf("fast-forward: %+v", ff)
	}
	waitEvent(t, grid, "declarative-pod passed by fast-forward", func(e streamEvent) bool {
		l, ok := row(e)
		return ok && l.Tasks[1].State == cellPassed
	})

	_, csvBody := teach.do(t, "GET", base+"/export.csv", nil)
	records, err := csv.NewReader(strings.NewReader(string(csvBody))).ReadAll()
	if err != nil {
		t.Fatalf("export.csv: %v\n%s", err, csvBody)
	}
	tasks := len(mustChapter(t, ts, "pods").Tasks)
	if len(records) != 1+2*tasks {
		t.Fatalf("export.csv has %d rows, want a header and %d", len(records), 2*tasks)
	}
	var hints []string
	for _, r := range records[1:] {
		if r[3] == "run-hello-web" {
			hints = append(hints, r[4]+":"+r[9])
		}
	}
	if diff := cmp.Diff([]string{"passed:1", "not_started:0"}, hints); diff != "" {
		t.Errorf("run-hello-web in the export (state:hints) (-want +got):\n%s", diff)
	}
	_, anon := teach.do(t, "GET", base+"/export.json?anonymous=1", nil)
	if strings.Contains(string(anon), doerID) || !strings.Contains(string(anon), "Learner 1") {
		t.Errorf("the anonymous export names learners: %.300s", anon)
	}
	audit := string(mustCall(t, teach, "GET", base+"/audit", nil, http.StatusOK))
	for _, want := range []string{"extend", "fast-forward", "hint pods/run-hello-web"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit lacks %q: %s", want, audit)
		}
	}
}

func mustChapter(t *testing.T, ts *testStack, id string) *labs.Chapter {
	t.Helper()
	ch, err := ts.srv.Chapter(id)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestWorkshopWarmsBeforeItsStart: an event about to start gets a warm
// lab for each seat of its first chapter, which its learners' starts use.
func TestWorkshopWarmsBeforeItsStart(t *testing.T) {
	t.Parallel()
	// As kubelab serve does, chapters with a setup get warm labs prepared
	// for them (labels' setup makes objects to label).
	ts := newTestStack(t, func(o *sandbox.ManagerOptions, _ *Options) {
		o.Prepared = []sandbox.ChapterSpec{{ID: "labels", Size: "small"}}
	})
	teach := instructor(t, ts, "t5@example.com")
	starts := time.Now().Add(5 * time.Minute)
	later := time.Now().Add(3 * time.Hour)
	soon := decode[eventJSON](t, mustCall(t, teach, "POST", "/api/v1/events",
		map[string]any{"title": "Soon", "chapters": []string{"labels"}, "seats": 3, "starts_at": starts}, http.StatusCreated))
	notYet := decode[eventJSON](t, mustCall(t, teach, "POST", "/api/v1/events",
		map[string]any{"title": "Later", "chapters": []string{"pods"}, "seats": 3, "starts_at": later}, http.StatusCreated))
	if soon.Status != workshopScheduled {
		t.Errorf("an event starting in 5 minutes is %q, want scheduled", soon.Status)
	}
	warm := func(id string) *warmJSON {
		return decode[eventJSON](t, mustCall(t, teach, "GET", "/api/v1/events/"+id, nil, http.StatusOK)).Warm
	}
	deadline := time.Now().Add(90 * time.Second)
	for w := warm(soon.ID); w == nil || w.Ready < 3; w = warm(soon.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the event starting in 5 minutes has warm labs %+v, want 3 ready", w)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if w := warm(notYet.ID); w != nil {
		t.Errorf("an event starting in 3 hours is warmed already: %+v", w)
	}
	learner := guest(t, ts)
	mustCall(t, learner, "POST", "/api/v1/join", map[string]string{"code": soon.JoinCode}, http.StatusOK)
	res, body := learner.do(t, "POST", "/api/v1/chapters/labels/session", nil)
	if res.StatusCode != http.StatusOK {
		t.Errorf("a start in a warmed event: %d %s, want 200 (ready from a warm lab)", res.StatusCode, body)
	}
	deadline = time.Now().Add(30 * time.Second)
	for w := warm(soon.ID); w == nil || w.Wanted != 2; w = warm(soon.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("after one learner started, the warm labs wanted are %+v, want 2", w)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
