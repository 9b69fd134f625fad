package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// adminEmail is the admin account kubelab makes on its first start (its
// --admin-email default), with the password of KUBELAB_ADMIN_PASSWORD.
const adminEmail = "admin@localhost"

// How the grid is checked when the time is up: after the last commands'
// grading had time to reach it (at least settleMin, until the stream was
// quiet for gridQuiet, at most settleMax), up to checkAttempts times
// checkRetry apart, so that a change in flight is not a mismatch.
const (
	settleMin     = 3 * time.Second
	gridQuiet     = 2 * time.Second
	settleMax     = 30 * time.Second
	checkAttempts = 5
	checkRetry    = 2 * time.Second
	checkWithin   = 3 * time.Minute // the whole check, learners' labs held meanwhile
	slowest       = 8               // the slowest changes → grid cell printed
)

// workshop is the soak's event (--event): kubelab's admin makes it with the
// soak's chapters and a seat per learner, every learner joins it with its
// join code before its first lab, and an instructor follows its grid's
// event stream for the whole run. When the time is up, before the labs
// end, the soak checks the grid against what the learners know. Its
// methods are safe for concurrent use, and do nothing on a nil *workshop
// (a run without --event).
type workshop struct {
	r     *recorder
	admin *apiClient
	id    string
	code  string
	view  *gridView

	stop    context.CancelFunc // ends the follower
	done    chan struct{}      // closed when the follower ended
	checked chan struct{}      // closed when the grid was checked: the labs may end

	mu       sync.Mutex
	learners map[int]*eventLearner
	changes  []gridChange
}

// eventLearner is a learner of the event, as the soak knows it.
type eventLearner struct {
	user, name string
	c          *apiClient
	seen       map[taskKey]bool // every task its event streams said passed
	lab        string           // its ready lab's id; empty: none
	chapter    string           // the lab's chapter
}

// openWorkshop logs in as kubelab's admin, makes the event and starts
// following its grid; it returns once the first grid came.
func openWorkshop(ctx context.Context, p *plan, password string) (*workshop, error) {
	admin := newAPIClient(p.base, p.tr, p.r)
	creds := map[string]string{"email": adminEmail, "password": password}
	if err := admin.call(ctx, "POST", "/api/v1/auth/login", "POST login", creds, nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("log in as kubelab's admin %s: %w", adminEmail, err)
	}
	var ids []string
	for _, ch := range p.chapters {
		ids = append(ids, ch.ID)
	}
	var ev struct {
		ID       string `json:"id"`
		JoinCode string `json:"join_code"`
	}
	in := map[string]any{"title": "Soak " + p.run, "chapters": ids, "seats": p.o.Learners}
	if err := admin.call(ctx, "POST", "/api/v1/events", "POST event", in, &ev, http.StatusCreated); err != nil {
		return nil, fmt.Errorf("make the event: %w", err)
	}
	if ev.ID == "" || ev.JoinCode == "" {
		return nil, errors.New("make the event: the answer has no id or join code")
	}
	fctx, stop := context.WithCancel(ctx)
	w := &workshop{r: p.r, admin: admin, id: ev.ID, code: ev.JoinCode, view: newGridView(), stop: stop,
		done: make(chan struct{}), checked: make(chan struct{}), learners: map[int]*eventLearner{}}
	go w.follow(fctx) // owned by w: close waits for done
	for deadline := time.Now().Add(time.Minute); w.view.lastEvent().IsZero(); {
		if time.Now().After(deadline) || ctx.Err() != nil {
			w.close()
			return nil, errors.New("the event's grid stream sent no grid within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w, nil
}

// close stops following the grid.
func (w *workshop) close() {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
}

// follow reads the grid's event stream as the instructor's page does
// (reconnecting when it breaks) until ctx ends.
func (w *workshop) follow(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		err := followSSE(ctx, w.admin, "/api/v1/events/"+w.id+"/grid/events", "GET grid events", w.event)
		if ctx.Err() != nil {
			return
		}
		w.r.fail("grid stream broke", "the grid's events of event %s: %v", w.id, err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second): // EventSource waits too
		}
	}
}

func (w *workshop) event(name, data string) {
	if err := w.view.apply(name, []byte(data), time.Now()); err != nil {
		w.r.fail("grid stream: bad event", "%v", err)
		return
	}
	w.r.count("grid stream events: "+name, 1)
}

// join makes learner n, signed in on c as user, a learner of the event
// with its join code, as the join page does.
func (w *workshop) join(ctx context.Context, n int, c *apiClient, user userJSON) error {
	if w == nil {
		return nil
	}
	if err := c.call(ctx, "POST", "/api/v1/join", "POST join", map[string]string{"code": w.code}, nil, http.StatusOK); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.learners[n] = &eventLearner{user: user.ID, name: fmt.Sprintf("learner %d (%s)", n, user.Name), c: c, seen: map[taskKey]bool{}}
	w.r.count("learners joined the event", 1)
	return nil
}

// labReady records learner n's ready lab; labGone that it ended.
func (w *workshop) labReady(n int, chapter, id string) { w.setLab(n, chapter, id) }
func (w *workshop) labGone(n int)                      { w.setLab(n, "", "") }

func (w *workshop) setLab(n int, chapter, id string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.learners[n]; l != nil {
		l.lab, l.chapter = id, chapter
	}
}

// sawPassed records that learner n's event stream said a task passed.
func (w *workshop) sawPassed(n int, k taskKey) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.learners[n]; l != nil {
		l.seen[k] = true
	}
}

// solved records the Enter of the command that made learner n's task pass:
// its cell on the grid is measured from there.
func (w *workshop) solved(n int, k taskKey, at, green time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.learners[n]; l != nil {
		w.changes = append(w.changes, gridChange{Learner: l.user, Task: k, At: at, Green: green})
	}
}

// hold keeps a lab as it is once the time is up, until the grid was
// checked (or checkWithin passed).
func (w *workshop) hold(ctx context.Context) {
	if w == nil || ctx.Err() == nil {
		return
	}
	select {
	case <-w.checked:
	case <-time.After(checkWithin + settleMax):
	}
}

// check runs when the time is up, while the learners hold their labs: it
// compares the grid kubelab answers with every learner's own tasks and
// what their event streams said, and with the grid the instructor's
// stream built, and measures change → grid cell. Then the labs may end.
func (w *workshop) check(ctx context.Context, out io.Writer) {
	defer close(w.checked)
	ctx, cancel := context.WithTimeout(ctx, checkWithin)
	defer cancel()
	// The last commands' grading reaches the grid first.
	for t0 := time.Now(); time.Since(t0) < settleMax && ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		if time.Since(t0) >= settleMin && time.Since(w.view.lastEvent()) >= gridQuiet {
			break
		}
	}
	var problems []string
	attempts, learners, labs := 0, 0, 0
	for attempts < checkAttempts && ctx.Err() == nil {
		if attempts++; attempts > 1 {
			time.Sleep(checkRetry)
		}
		states, err := w.learnerStates(ctx)
		if err != nil {
			problems = []string{err.Error()}
			continue
		}
		var g gridJSON
		if err := w.admin.call(ctx, "GET", "/api/v1/events/"+w.id+"/grid", "GET grid", nil, &g, http.StatusOK); err != nil {
			problems = []string{err.Error()}
			continue
		}
		learners, labs = len(states), 0
		for _, s := range states {
			if s.Live != nil {
				labs++
			}
		}
		if problems = gridMismatches(states, g, w.view.snapshot()); len(problems) == 0 {
			break
		}
	}
	for _, p := range problems {
		w.r.fail("grid", "%s", p)
	}
	fmt.Fprintf(out, "event %s: the grid of %d learners (%d with a ready lab) checked in %d attempt(s): %d mismatches\n",
		w.id, learners, labs, attempts, len(problems))

	w.mu.Lock()
	changes := slices.Clone(w.changes)
	names := map[string]string{}
	for _, l := range w.learners {
		names[l.user] = l.name
	}
	w.mu.Unlock()
	measured, before, missing := cellLatencies(changes, w.view.shownPassed)
	for _, m := range measured {
		w.r.latency(latGridCell, m.FromChange())
		w.r.latency(latGreenCell, m.FromGreen())
	}
	// The slowest say where the time goes: the lab's grading, or the grid.
	slices.SortFunc(measured, func(a, b cellShown) int { return cmp.Compare(b.FromChange(), a.FromChange()) })
	for _, m := range measured[:min(slowest, len(measured))] {
		fmt.Fprintf(out, "  slow: %s %s: change → grid cell %s (change → green %s, green → grid cell %s)\n",
			names[m.Learner], m.Task, dur(m.FromChange()), dur(m.Green.Sub(m.At)), dur(m.FromGreen()))
	}
	if before > 0 {
		w.r.count("tasks green again (grid cell passed already)", before)
	}
	for _, m := range missing {
		w.r.fail("grid", "%s: %s went green on the learner's stream (its command at %s) but never showed passed on the streamed grid",
			names[m.Learner], m.Task, m.At.Format("15:04:05.000"))
	}
}

// learnerStates reads what every learner of the event knows now: the tasks
// its streams said passed, and its ready lab's tasks.
func (w *workshop) learnerStates(ctx context.Context) ([]learnerState, error) {
	w.mu.Lock()
	var ls []eventLearner
	for _, n := range slices.Sorted(maps.Keys(w.learners)) {
		l := *w.learners[n]
		l.seen = maps.Clone(l.seen)
		ls = append(ls, l)
	}
	w.mu.Unlock()
	out := make([]learnerState, 0, len(ls))
	for _, l := range ls {
		st := learnerState{User: l.user, Name: l.name, Seen: l.seen}
		if l.lab != "" {
			var tasks []taskJSON
			err := l.c.call(ctx, "GET", "/api/v1/sessions/"+l.lab+"/tasks", "GET tasks", nil, &tasks, http.StatusOK)
			var es *errStatus
			switch {
			case errors.As(err, &es) && es.status == http.StatusConflict:
				// Its lab is being reset: nothing passes in it.
			case err != nil:
				return nil, fmt.Errorf("%s: %w", l.name, err)
			default:
				st.Live = map[taskKey]bool{}
				for _, t := range tasks {
					if t.Passed {
						st.Live[taskKey{l.chapter, t.ID}] = true
					}
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}
