package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/kubelab/kubelab/labs"
)

// Bounds on what a learner waits for; past them the wait is an error.
const (
	readyWithin   = 5 * time.Minute // a start or a reset, setup included
	promptWithin  = 30 * time.Second
	commandWithin = 5 * time.Minute // a solution's command, rollouts included
	greenWithin   = time.Minute     // after the solution, unless a check allows longer
	cleanupWithin = time.Minute     // ending the lab after the soak's time is up
)

// plan is what every learner of a run shares.
type plan struct {
	o        options
	base     string
	tr       http.RoundTripper
	r        *recorder
	run      string          // this run's id, in the learners' emails
	chapters []*labs.Chapter // in the order learners take them
	ws       *workshop       // the event every learner joins (--event); nil: none
}

// learner is one simulated person in a browser.
type learner struct {
	p      *plan
	n      int
	typing bool
	c      *apiClient
}

func (p *plan) learner(n int) *learner {
	// The typing learners are spread evenly among the arrivals.
	typing := n*p.o.Terminals%p.o.Learners < p.o.Terminals
	return &learner{p: p, n: n, typing: typing, c: newAPIClient(p.base, p.tr, p.r)}
}

// run is the learner's whole visit, until ctx ends.
func (l *learner) run(ctx context.Context) {
	if err := l.enter(ctx); err != nil {
		l.fail(ctx, "enter", err)
		return
	}
	if !l.typing {
		l.read(ctx, l.p.chapters[l.n%len(l.p.chapters)])
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		l.lab(ctx, l.p.chapters[(l.n+i)%len(l.p.chapters)])
	}
}

// fail records an error, unless it is the soak's time running out.
func (l *learner) fail(ctx context.Context, step string, err error) {
	if ctx.Err() != nil {
		return
	}
	var es *errStatus
	if errors.As(err, &es) {
		l.p.r.fail(fmt.Sprintf("http %d %s", es.status, es.route), "learner %d, %s: %v", l.n, step, err)
		return
	}
	l.p.r.fail(step, "learner %d: %v", l.n, err)
}

// enter signs up (typing learners keep their progress in an account) or
// comes in as a guest, then joins the event, if there is one.
func (l *learner) enter(ctx context.Context) error {
	var u userJSON
	if l.typing {
		creds := map[string]string{"email": fmt.Sprintf("soak-%s-%d@example.com", l.p.run, l.n), "password": "soak password " + l.p.run, "name": fmt.Sprintf("Learner %d", l.n)}
		if err := l.c.call(ctx, "POST", "/api/v1/auth/signup", "POST signup", creds, &u, http.StatusCreated); err != nil {
			return err
		}
	} else if err := l.c.call(ctx, "POST", "/api/v1/auth/guest", "POST guest", map[string]string{"name": fmt.Sprintf("Guest %d", l.n)}, &u, http.StatusCreated); err != nil {
		return err
	}
	return l.p.ws.join(ctx, l.n, l.c, u)
}

// start opens the chapter's page and starts its lab as the page does,
// following the session's events, until the lab is ready.
func (l *learner) start(ctx context.Context, ch *labs.Chapter) (string, *stream, error) {
	if err := l.c.call(ctx, "GET", "/chapters/"+ch.ID, "GET chapter page", nil, nil, http.StatusOK); err != nil {
		return "", nil, err
	}
	t0 := time.Now()
	var ss sessionJSON
	if err := l.c.call(ctx, "POST", "/api/v1/chapters/"+ch.ID+"/session", "POST session", map[string]string{}, &ss, http.StatusOK, http.StatusAccepted); err != nil {
		return "", nil, err
	}
	st := openStream(ctx, l.c, ss.ID, func(task string) { l.p.ws.sawPassed(l.n, taskKey{ch.ID, task}) })
	_, at, err := st.waitStatus(ctx, 0, "ready", readyWithin)
	if err != nil {
		st.close()
		l.end(ctx, ss.ID)
		return "", nil, fmt.Errorf("lab %s of chapter %s: %w", ss.ID, ch.ID, err)
	}
	l.p.r.latency(latStartReady, at.Sub(t0))
	l.p.r.count("labs ready", 1)
	l.p.ws.labReady(l.n, ch.ID, ss.ID)
	if err := l.c.call(ctx, "GET", "/api/v1/sessions/"+ss.ID+"/tasks", "GET tasks", nil, nil, http.StatusOK); err != nil {
		st.close()
		l.end(ctx, ss.ID)
		return "", nil, err
	}
	return ss.ID, st, nil
}

// end ends the lab, also after the soak's time ran out (as the logout
// question does); an event's labs once its grid was checked.
func (l *learner) end(ctx context.Context, id string) {
	l.p.ws.hold(ctx)
	l.p.ws.labGone(l.n)
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWithin)
	defer cancel()
	if err := l.c.call(ectx, "DELETE", "/api/v1/sessions/"+id, "DELETE session", nil, nil, http.StatusNoContent); err != nil {
		l.fail(ectx, "end", err)
		return
	}
	l.p.r.count("labs ended (DELETE answered 204)", 1)
}

// read is a learner who reads the lesson with the lab open: the page
// reports activity, refreshes the tasks, checks one now and then and
// extends the lab once.
func (l *learner) read(ctx context.Context, ch *labs.Chapter) {
	id, st, err := l.start(ctx, ch)
	if err != nil {
		l.fail(ctx, "start", err)
		return
	}
	defer l.end(ctx, id)
	defer st.close()
	defer l.p.ws.hold(ctx) // its stream stays open meanwhile
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(float64(l.p.o.PageEvery) * (0.5 + rand.Float64()))):
		}
		steps := []pageCall{
			{"POST", "/activity", "POST activity", http.StatusNoContent},
			{"GET", "/tasks", "GET tasks", http.StatusOK},
		}
		if i%3 == 0 {
			steps = append(steps, pageCall{"POST", "/tasks/" + ch.Tasks[0].ID + "/check", "POST check", http.StatusOK})
		}
		if i == 2 {
			steps = append(steps, pageCall{"POST", "/extend", "POST extend", http.StatusOK})
		}
		for _, s := range steps {
			if err := l.c.call(ctx, s.method, "/api/v1/sessions/"+id+s.path, s.route, map[string]string{}, nil, s.want); err != nil {
				l.fail(ctx, "read", err)
			}
		}
		l.p.r.count("page interactions", 1)
	}
}

// pageCall is a call the chapter page makes on a session.
type pageCall struct {
	method, path, route string
	want                int
}

// lab is a learner who works: starts the chapter's lab, types the first
// tasks' reference solutions into the terminal and watches each go green,
// checks the last, resets the lab and ends it.
func (l *learner) lab(ctx context.Context, ch *labs.Chapter) {
	id, st, err := l.start(ctx, ch)
	if err != nil {
		l.fail(ctx, "start", err)
		l.breather(ctx)
		return
	}
	defer l.end(ctx, id)
	defer st.close()
	defer l.p.ws.hold(ctx) // its stream stays open meanwhile
	if err := l.work(ctx, ch, id, st); err != nil {
		l.fail(ctx, err.step, err.err)
		l.breather(ctx)
	}
}

// stepError is an error with the step it happened in, its kind in the report.
type stepError struct {
	step string
	err  error
}

func (l *learner) work(ctx context.Context, ch *labs.Chapter, id string, st *stream) *stepError {
	t0 := time.Now()
	term, err := openTerminal(ctx, l.c, id)
	if err != nil {
		return &stepError{"terminal open", err}
	}
	at, err := term.waitFor(ctx, 0, promptWithin, "the first prompt", promptAfter)
	if err != nil {
		term.close()
		return &stepError{"terminal prompt", err}
	}
	l.p.r.latency(latPrompt, at.Sub(t0))
	ty := &typist{t: term, every: l.p.o.KeyEvery, r: l.p.r}
	defer func() { l.p.r.count("keys typed", ty.keys) }()
	var task *labs.Task
	for _, task = range ch.Tasks[:min(l.p.o.TasksPerLab, len(ch.Tasks))] {
		if err := l.solve(ctx, ty, st, ch, task); err != nil {
			term.close()
			return err
		}
	}
	term.close() // the reset below ends the shell; the page closes it first

	var res json.RawMessage
	if err := l.c.call(ctx, "POST", "/api/v1/sessions/"+id+"/tasks/"+task.ID+"/check", "POST check", map[string]string{}, &res, http.StatusOK); err != nil {
		return &stepError{"check", err}
	}
	var result taskJSON
	if err := json.Unmarshal(res, &result); err != nil || !result.Passed {
		return &stepError{"check disagrees with live grading", fmt.Errorf("%s/%s: the Check button says %s after the event stream said passed", ch.ID, task.ID, res)}
	}
	n := st.seen()
	t0 = time.Now()
	if err := l.c.call(ctx, "POST", "/api/v1/sessions/"+id+"/reset", "POST reset", map[string]string{}, nil, http.StatusAccepted); err != nil {
		return &stepError{"reset", err}
	}
	i, _, err := st.waitStatus(ctx, n, "provisioning", readyWithin)
	if err == nil {
		_, at, err = st.waitStatus(ctx, i+1, "ready", readyWithin)
	}
	if err != nil {
		return &stepError{"reset", err}
	}
	l.p.r.latency(latResetReady, at.Sub(t0))
	var tasks []taskJSON
	if err := l.c.call(ctx, "GET", "/api/v1/sessions/"+id+"/tasks", "GET tasks", nil, &tasks, http.StatusOK); err != nil {
		return &stepError{"after reset", err}
	}
	for _, t := range tasks {
		if t.Passed {
			return &stepError{"reset kept the sandbox's state", fmt.Errorf("%s/%s passes after the reset", ch.ID, t.ID)}
		}
	}
	l.p.r.count("labs typed through", 1)
	return nil
}

// solve types a task's reference solution, command by command, each
// after the prompt, then waits until live grading says it passed.
func (l *learner) solve(ctx context.Context, ty *typist, st *stream, ch *labs.Chapter, task *labs.Task) *stepError {
	var enters []time.Time // when each command was submitted
	for _, cmd := range commands(task.Solution) {
		for i, line := range cmd {
			enter, mark, err := ty.line(ctx, line)
			if err != nil {
				return &stepError{"terminal typing", err}
			}
			if i < len(cmd)-1 { // a continuation or here-document line
				if _, err := ty.t.waitFor(ctx, mark, promptWithin, "the continuation prompt", continuationAfter); err != nil {
					return &stepError{"terminal typing", err}
				}
				continue
			}
			enters = append(enters, enter)
			if _, err := ty.t.waitFor(ctx, mark, commandWithin, "the prompt after "+task.ID+"'s command", promptAfter); err != nil {
				return &stepError{"terminal command", err}
			}
		}
		select {
		case <-ctx.Done():
			return &stepError{"terminal typing", ctx.Err()}
		case <-time.After(l.p.o.Think):
		}
	}
	within := greenWithin
	for _, c := range task.Checks {
		within = max(within, c.Within)
	}
	green, err := st.waitGreen(ctx, task.ID, within)
	if err != nil {
		return &stepError{"task not green after its solution", fmt.Errorf("%s: %w; %s; the terminal's last lines: %q", task.ID, err, l.whyNotGreen(ctx, st.id, task.ID), ty.t.tail(600))}
	}
	// The change is the command submitted last before the task went green.
	var change time.Time
	for _, e := range enters {
		if !e.After(green) {
			change = e
		}
	}
	if change.IsZero() {
		return &stepError{"task green before its solution", fmt.Errorf("%s passed before its first command", task.ID)}
	}
	l.p.r.latency(latGreen, green.Sub(change))
	l.p.r.count("tasks green", 1)
	l.p.ws.solved(l.n, taskKey{ch.ID, task.ID}, change, green)
	return nil
}

// breather keeps a learner whose lab failed from retrying in a tight loop.
func (l *learner) breather(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
}

// whyNotGreen says what live grading and a fresh Check see of a task that
// did not turn green: whether the cluster lags (both fail, with the
// check's actual value) or live grading missed a change (the Check passes).
func (l *learner) whyNotGreen(ctx context.Context, session, task string) string {
	var live []json.RawMessage
	liveSays := "live grading: unknown"
	if err := l.c.call(ctx, "GET", "/api/v1/sessions/"+session+"/tasks", "GET tasks", nil, &live, http.StatusOK); err == nil {
		for _, raw := range live {
			var t taskJSON
			if json.Unmarshal(raw, &t) == nil && t.ID == task {
				liveSays = "live grading: " + string(raw)
			}
		}
	}
	var fresh json.RawMessage
	if err := l.c.call(ctx, "POST", "/api/v1/sessions/"+session+"/tasks/"+task+"/check", "POST check", map[string]string{}, &fresh, http.StatusOK); err != nil {
		return liveSays + "; Check: " + err.Error()
	}
	return liveSays + "; Check: " + string(fresh)
}
