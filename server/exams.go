package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/labs/exams"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// Timed practice exams. An attempt draws its tasks from the exam's bank
// by a seed it keeps, and runs as a sandbox session whose chapter is the
// draw rendered (chapter id "attempt-<id>"). The clock starts when the
// sandbox is ready, and its deadline is stored: a reload, another browser
// or a restart of kubelab never moves it. At the deadline, or on an early
// submit, the final state is graded once, the review stored, and the
// sandbox ended (the candidate's credentials stop working).

// attemptChapterPrefix marks the chapters of attempts among session chapters.
const attemptChapterPrefix = "attempt-"

// examWatchEvery is how often the deadline watch looks for attempts whose
// time is up (and attempts whose sandbox became ready or failed).
const examWatchEvery = 2 * time.Second

var (
	errExamNotRunning = errStatus(http.StatusConflict, "This attempt is not running: it has not started yet, or it has ended.")
	errReviewNotYet   = errStatus(http.StatusNotFound, "The review is ready when the attempt ends: at its deadline, or when you submit.")
	errBadMark        = errStatus(http.StatusBadRequest, "Send flagged (true or false) and a note of at most 2000 characters.")
)

// drawnAttempt is an attempt's draw, rendered once and cached.
type drawnAttempt struct {
	exam    *exams.Exam
	draw    exams.Draw
	catalog *labs.Catalog // the draw's tasks as a chapter, for their text
	chapter *labs.Chapter
	program *grader.Program
}

// attemptCache holds the draws of the attempts this process has seen.
type attemptCache struct {
	mu    sync.Mutex
	draws map[string]*drawnAttempt // by attempt id
}

func (s *Server) exam(id string) (*exams.Exam, error) {
	for _, ex := range s.opts.Exams {
		if ex.ID == id {
			return ex, nil
		}
	}
	return nil, errNotFound
}

// drawOf renders (or finds) attempt a's draw.
func (s *Server) drawOf(a store.Attempt) (*drawnAttempt, error) {
	s.attempts.mu.Lock()
	defer s.attempts.mu.Unlock()
	if d, ok := s.attempts.draws[a.ID]; ok {
		return d, nil
	}
	ex, err := s.exam(a.Exam)
	if err != nil {
		return nil, fmt.Errorf("attempt %s: exam %s is gone", a.ID, a.Exam)
	}
	draw := ex.DrawTasks(a.Seed)
	if a.Task != "" { // a retry: the one task, with the values it was drawn with
		draw.Tasks = slices.DeleteFunc(draw.Tasks, func(dt exams.DrawnTask) bool { return dt.Task.ID != a.Task })
		if len(draw.Tasks) != 1 {
			return nil, fmt.Errorf("attempt %s: task %s is not in its draw", a.ID, a.Task)
		}
	}
	cat, err := draw.CatalogAs(attemptChapterPrefix+a.ID, labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		return nil, fmt.Errorf("attempt %s: %w", a.ID, err)
	}
	ch := cat.Chapters()[0]
	prog, err := grader.Compile(ch)
	if err != nil {
		return nil, fmt.Errorf("attempt %s: %w", a.ID, err)
	}
	d := &drawnAttempt{exam: ex, draw: draw, catalog: cat, chapter: ch, program: prog}
	if s.attempts.draws == nil {
		s.attempts.draws = map[string]*drawnAttempt{}
	}
	s.attempts.draws[a.ID] = d
	return d, nil
}

// Chapter finds a chapter by id for a session's setup: the catalog's, or
// an attempt's draw. It satisfies labshell.Chapters.
func (s *Server) Chapter(id string) (*labs.Chapter, error) {
	attemptID, ok := strings.CutPrefix(id, attemptChapterPrefix)
	if !ok {
		return s.catalog.Chapter(id)
	}
	ctx, cancel := context.WithTimeout(s.life, 10*time.Second)
	defer cancel()
	a, err := s.store.GetAttempt(ctx, attemptID)
	if err != nil {
		return nil, fmt.Errorf("chapter %s: %w", id, labs.ErrNotFound)
	}
	d, err := s.drawOf(a)
	if err != nil {
		return nil, err
	}
	return d.chapter, nil
}

var _ labshell.Chapters = (*Server)(nil)

type examJSON struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Summary  string         `json:"summary"`
	Minutes  int            `json:"minutes"`
	PassMark int            `json:"pass_mark"`
	Tasks    int            `json:"tasks"`
	Domains  []exams.Domain `json:"domains"`
}

func (s *Server) listExams(c echo.Context) error {
	out := []examJSON{}
	for _, ex := range s.opts.Exams {
		out = append(out, examJSON{ID: ex.ID, Title: ex.Title, Summary: ex.Summary, Minutes: ex.Minutes,
			PassMark: ex.PassMark, Tasks: ex.Draw, Domains: ex.Domains})
	}
	return c.JSON(http.StatusOK, out)
}

type attemptTaskJSON struct {
	ID        string        `json:"id"`
	Title     string        `json:"title"`
	Weight    int           `json:"weight"`
	Domain    string        `json:"domain"`
	Namespace string        `json:"namespace"` // the real namespace to work in
	Switch    string        `json:"switch"`    // the command that makes it kubectl's default
	Text      template.HTML `json:"text"`
	Flagged   bool          `json:"flagged"`
	Note      string        `json:"note"`
}

type attemptJSON struct {
	ID         string            `json:"id"`
	Exam       string            `json:"exam"`
	Title      string            `json:"title"`
	Status     string            `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	SessionID  string            `json:"session_id"`
	RetryOf    string            `json:"retry_of,omitempty"` // a retry of one task of this attempt
	Minutes    int               `json:"minutes"`
	PassMark   int               `json:"pass_mark"`
	Deadline   *time.Time        `json:"deadline,omitempty"`
	Now        time.Time         `json:"now"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	Score      *float64          `json:"score,omitempty"`
	MaxScore   int               `json:"max_score"`
	Passed     *bool             `json:"passed,omitempty"`
	Tasks      []attemptTaskJSON `json:"tasks"`
}

// newAttemptID is 16 hex digits, as session ids are.
func newAttemptID() (string, uint64) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:8]), binary.LittleEndian.Uint64(b[8:])
}

// startAttempt draws an attempt and starts its sandbox.
func (s *Server) startAttempt(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	ex, err := s.exam(c.Param("exam"))
	if err != nil {
		return err
	}
	id, seed := newAttemptID()
	return s.beginAttempt(c, store.Attempt{ID: id, UserID: u.ID, Exam: ex.ID, Seed: seed, Status: store.AttemptProvisioning})
}

// retryMinutes is a retried task's time.
const retryMinutes = 15

// retryTask starts a retry of one task of a finished attempt: the same
// task with the same values, alone, in a fresh sandbox.
func (s *Server) retryTask(c echo.Context) error {
	a, err := s.ownedAttempt(c)
	if err != nil {
		return err
	}
	if a.Status != store.AttemptFinished || a.Task != "" {
		return errExamNotRunning
	}
	d, err := s.drawOf(a)
	if err != nil {
		return err
	}
	task := c.Param("task")
	bankID := ""
	for i, t := range d.chapter.Tasks {
		if t.ID == task {
			bankID = d.draw.Tasks[i].Task.ID
		}
	}
	if bankID == "" {
		return errNotFound
	}
	id, _ := newAttemptID()
	return s.beginAttempt(c, store.Attempt{ID: id, UserID: a.UserID, Exam: a.Exam, Seed: a.Seed, Task: bankID, RetryOf: a.ID,
		Status: store.AttemptProvisioning})
}

// beginAttempt stores attempt a and starts its sandbox.
func (s *Server) beginAttempt(c echo.Context, a store.Attempt) error {
	id := a.ID
	d, err := s.drawOf(a)
	if err != nil {
		return err
	}
	for _, t := range d.chapter.Tasks {
		a.MaxScore += t.Points
	}
	ctx := c.Request().Context()
	// The row comes first: the session's setup looks the draw up by it.
	a.SessionID = "pending"
	if err := s.store.CreateAttempt(ctx, a); err != nil {
		return err
	}
	ss, err := s.sandboxes.Start(ctx, a.UserID, labshell.ChapterSpec(d.chapter))
	if err != nil {
		_, _ = s.store.FinishAttempt(context.WithoutCancel(ctx), id, store.AttemptFailed, "The sandbox could not be started.", 0, false, nil, time.Now())
		return fmt.Errorf("start attempt %s: %w", id, err)
	}
	if err := s.store.SetAttemptSession(ctx, id, ss.ID); err != nil {
		return err
	}
	a.SessionID = ss.ID
	if ss.Status == sandbox.StatusReady {
		s.sessionReady(ss)
	}
	out, err := s.attemptView(ctx, a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, out)
}

// ownedAttempt is the caller's attempt of the path, or a 404.
func (s *Server) ownedAttempt(c echo.Context) (store.Attempt, error) {
	u, err := currentUser(c)
	if err != nil {
		return store.Attempt{}, err
	}
	a, err := s.store.GetAttempt(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && a.UserID != u.ID {
		return store.Attempt{}, errNotFound
	}
	return a, err
}

func (s *Server) getAttempt(c echo.Context) error {
	a, err := s.ownedAttempt(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if a, err = s.advanceAttempt(ctx, a); err != nil {
		return err
	}
	if a.Status == store.AttemptRunning {
		s.sandboxes.Touch(ctx, a.SessionID) // reading the tasks is working
	}
	out, err := s.attemptView(ctx, a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// attemptView is the attempt as the exam page shows it.
func (s *Server) attemptView(ctx context.Context, a store.Attempt) (attemptJSON, error) {
	d, err := s.drawOf(a)
	if err != nil {
		return attemptJSON{}, err
	}
	out := attemptJSON{ID: a.ID, Exam: a.Exam, Title: d.exam.Title, Status: a.Status, Reason: a.Reason, SessionID: a.SessionID,
		Minutes: minutesOf(a, d), PassMark: d.exam.PassMark, RetryOf: a.RetryOf, Deadline: a.Deadline, Now: time.Now(), FinishedAt: a.FinishedAt,
		MaxScore: a.MaxScore, Tasks: []attemptTaskJSON{}}
	if a.Status == store.AttemptFinished {
		out.Score, out.Passed = &a.Score, &a.Passed
	}
	var namespaces map[string]string
	primary := ""
	if ss, err := s.sandboxes.Session(ctx, a.SessionID); err == nil {
		namespaces, primary = ss.Namespaces, ss.Namespace
	}
	for i, dt := range d.draw.Tasks {
		t := d.chapter.Tasks[i]
		ns := primary
		if dt.Task.Namespace != "" {
			// A logical name in a namespace exam; a real one in a cluster exam.
			ns = cmp.Or(namespaces[dt.Task.Namespace], dt.Task.Namespace)
		}
		text, err := d.catalog.StepHTML(d.chapter.ID, t.Step)
		if err != nil {
			return attemptJSON{}, err
		}
		mark := a.Marks[t.ID]
		tj := attemptTaskJSON{ID: t.ID, Title: t.Title, Weight: t.Points, Domain: dt.Task.Domain, Namespace: ns,
			Text: text, Flagged: mark.Flagged, Note: mark.Note}
		if ns != "" {
			tj.Switch = "kubectl config set-context --current --namespace=" + ns
		}
		out.Tasks = append(out.Tasks, tj)
	}
	return out, nil
}

// advanceAttempt starts the clock of an attempt whose sandbox is ready,
// fails one whose sandbox failed, and finishes one whose time is up.
func (s *Server) advanceAttempt(ctx context.Context, a store.Attempt) (store.Attempt, error) {
	switch a.Status {
	case store.AttemptProvisioning:
		ss, err := s.sandboxes.Session(ctx, a.SessionID)
		if err != nil {
			return a, nil // not started yet (the row comes before the session)
		}
		switch ss.Status {
		case sandbox.StatusReady:
			d, err := s.drawOf(a)
			if err != nil {
				return a, err
			}
			now := time.Now()
			started, err := s.store.StartAttemptClock(ctx, a.ID, now, now.Add(time.Duration(minutesOf(a, d))*time.Minute))
			if errors.Is(err, store.ErrAttemptState) {
				return s.store.GetAttempt(ctx, a.ID)
			}
			if err != nil {
				return a, err
			}
			s.keepSandboxFor(ctx, started)
			return started, nil
		case sandbox.StatusFailed, sandbox.StatusEnded, sandbox.StatusExpired:
			failed, err := s.store.FinishAttempt(ctx, a.ID, store.AttemptFailed, "The exam's sandbox could not be prepared: "+ss.Reason, 0, false, nil, time.Now())
			if errors.Is(err, store.ErrAttemptState) {
				return s.store.GetAttempt(ctx, a.ID)
			}
			return failed, err
		}
	case store.AttemptRunning:
		if a.Deadline != nil && !time.Now().Before(*a.Deadline) {
			return s.finishAttempt(ctx, a)
		}
	}
	return a, nil
}

// minutesOf is an attempt's time: the exam's, or a retried task's.
func minutesOf(a store.Attempt, d *drawnAttempt) int {
	if a.Task != "" {
		return retryMinutes
	}
	return d.exam.Minutes
}

// keepSandboxFor extends the attempt's sandbox past its deadline, so the
// session's own lifetime never ends an exam early.
func (s *Server) keepSandboxFor(ctx context.Context, a store.Attempt) {
	for range 20 {
		ss, err := s.sandboxes.Session(ctx, a.SessionID)
		if err != nil || ss.ExpiresAt.IsZero() || a.Deadline == nil || ss.ExpiresAt.After(a.Deadline.Add(5*time.Minute)) {
			return
		}
		if _, err := s.sandboxes.Extend(ctx, a.SessionID); err != nil {
			s.log.Warn("exam sandbox not extended past its deadline", "attempt_id", a.ID, "err", err)
			return
		}
	}
}

type reviewCheckJSON struct {
	Passed       bool   `json:"passed"`
	Message      string `json:"message"`
	Detail       string `json:"detail,omitempty"`
	Error        string `json:"error,omitempty"`
	Precondition bool   `json:"precondition,omitempty"`
	// Elsewhere is the namespace where the object the check looked for
	// exists instead: the work was done, in the wrong namespace.
	Elsewhere string `json:"elsewhere,omitempty"`
}

type reviewTaskJSON struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Domain   string            `json:"domain"`
	Weight   int               `json:"weight"`
	Score    float64           `json:"score"`
	Passed   bool              `json:"passed"`
	Checks   []reviewCheckJSON `json:"checks"`
	Solution string            `json:"solution"`
}

type reviewDomainJSON struct {
	ID     string  `json:"id"`
	Title  string  `json:"title"`
	Score  float64 `json:"score"`
	Weight int     `json:"weight"`
}

type reviewJSON struct {
	Score    float64            `json:"score"`
	MaxScore int                `json:"max_score"`
	Percent  float64            `json:"percent"`
	PassMark int                `json:"pass_mark"`
	Passed   bool               `json:"passed"`
	Domains  []reviewDomainJSON `json:"domains"`
	Tasks    []reviewTaskJSON   `json:"tasks"`
}

// finishAttempt grades a running attempt's final state once, stores the
// review, and ends its sandbox.
func (s *Server) finishAttempt(ctx context.Context, a store.Attempt) (store.Attempt, error) {
	d, err := s.drawOf(a)
	if err != nil {
		return a, err
	}
	ss, err := s.sandboxes.Session(ctx, a.SessionID)
	if err != nil {
		return a, fmt.Errorf("finish attempt %s: %w", a.ID, err)
	}
	var results []grader.TaskResult
	var target grader.Target
	if sb, err := s.sandboxes.Sandbox(ctx, ss.ID); err == nil {
		if target, err = s.targets.get(ss.ID, s.opts.ClusterConfig, sb); err != nil {
			return a, err
		}
		gctx, cancel := context.WithTimeout(ctx, evaluateTimeout)
		results = d.program.Evaluate(gctx, target)
		cancel()
	}
	rv := reviewJSON{MaxScore: a.MaxScore, PassMark: d.exam.PassMark}
	byDomain := map[string]*reviewDomainJSON{}
	for _, dom := range d.exam.Domains {
		rv.Domains = append(rv.Domains, reviewDomainJSON{ID: dom.ID, Title: dom.Title})
	}
	for i := range rv.Domains {
		byDomain[rv.Domains[i].ID] = &rv.Domains[i]
	}
	for i, dt := range d.draw.Tasks {
		t := d.chapter.Tasks[i]
		rt := reviewTaskJSON{ID: t.ID, Title: t.Title, Domain: dt.Task.Domain, Weight: t.Points, Solution: t.Solution, Checks: []reviewCheckJSON{}}
		if i < len(results) {
			r := results[i]
			rt.Score, rt.Passed = r.Score, r.Passed
			for j, cr := range r.Checks {
				rc := reviewCheckJSON{Passed: cr.Passed, Message: cr.Message, Detail: cr.Detail, Error: cr.Error, Precondition: cr.Precondition}
				if !cr.Passed && j < len(t.Checks) {
					rc.Elsewhere = elsewhere(ctx, target, t.Checks[j].Resource)
				}
				rt.Checks = append(rt.Checks, rc)
			}
		}
		rv.Score += rt.Score
		if dom := byDomain[rt.Domain]; dom != nil {
			dom.Score += rt.Score
			dom.Weight += rt.Weight
		}
		rv.Tasks = append(rv.Tasks, rt)
	}
	if rv.MaxScore > 0 {
		rv.Percent = 100 * rv.Score / float64(rv.MaxScore)
	}
	rv.Passed = rv.Percent >= float64(rv.PassMark)
	b, err := json.Marshal(rv)
	if err != nil {
		return a, fmt.Errorf("finish attempt %s: %w", a.ID, err)
	}
	done, err := s.store.FinishAttempt(ctx, a.ID, store.AttemptFinished, "", rv.Score, rv.Passed, b, time.Now())
	if errors.Is(err, store.ErrAttemptState) {
		return s.store.GetAttempt(ctx, a.ID) // graded by the other caller
	}
	if err != nil {
		return a, err
	}
	// Ending the sandbox revokes the candidate's credentials: the graded
	// state is final.
	if err := s.sandboxes.End(ctx, a.SessionID); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
		s.log.Warn("exam sandbox not ended", "attempt_id", a.ID, "session_id", a.SessionID, "err", err)
	}
	return done, nil
}

// elsewhere finds the object a failed check names in another of the
// sandbox's namespaces than the one the task asked for: the most common
// way to lose a task's points with the work done. "" when it is nowhere
// else (or the check names no single object).
func elsewhere(ctx context.Context, t grader.Target, r labs.Resource) string {
	if r.Name == "" || t.Dynamic == nil || t.Mapper == nil || t.Cluster {
		return ""
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return ""
	}
	m, err := t.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: r.Kind}, gv.Version)
	if err != nil || m.Scope.Name() != meta.RESTScopeNameNamespace {
		return ""
	}
	asked := t.Namespace
	if r.Namespace != "" {
		asked = t.Namespaces[r.Namespace]
	}
	if _, err := t.Dynamic.Resource(m.Resource).Namespace(asked).Get(ctx, r.Name, metav1.GetOptions{}); err == nil {
		return "" // it is where it should be: the check failed on its content
	}
	for _, ns := range append([]string{t.Namespace}, slices.Sorted(maps.Values(t.Namespaces))...) {
		if ns == asked {
			continue
		}
		if _, err := t.Dynamic.Resource(m.Resource).Namespace(ns).Get(ctx, r.Name, metav1.GetOptions{}); err == nil {
			return ns
		}
	}
	return ""
}

func (s *Server) submitAttempt(c echo.Context) error {
	a, err := s.ownedAttempt(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if a.Status != store.AttemptRunning {
		return errExamNotRunning
	}
	if a, err = s.finishAttempt(ctx, a); err != nil {
		return err
	}
	out, err := s.attemptView(ctx, a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) attemptReview(c echo.Context) error {
	a, err := s.ownedAttempt(c)
	if err != nil {
		return err
	}
	if a, err = s.advanceAttempt(c.Request().Context(), a); err != nil {
		return err
	}
	if a.Status != store.AttemptFinished || a.Review == nil {
		return errReviewNotYet
	}
	return c.JSONBlob(http.StatusOK, a.Review)
}

type markJSON struct {
	Flagged *bool   `json:"flagged"`
	Note    *string `json:"note"`
}

func (s *Server) markAttemptTask(c echo.Context) error {
	a, err := s.ownedAttempt(c)
	if err != nil {
		return err
	}
	var in markJSON
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Note != nil && len(*in.Note) > 2000 {
		return errBadMark
	}
	d, err := s.drawOf(a)
	if err != nil {
		return err
	}
	task := c.Param("task")
	if _, err := d.catalog.Task(d.chapter.ID, task); err != nil {
		return errNotFound
	}
	m := a.Marks[task]
	if in.Flagged != nil {
		m.Flagged = *in.Flagged
	}
	if in.Note != nil {
		m.Note = *in.Note
	}
	a, err = s.store.MarkAttemptTask(c.Request().Context(), a.ID, task, m)
	if errors.Is(err, store.ErrAttemptState) {
		return errExamNotRunning
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.Marks[task])
}

// attemptSession serves a session route (terminal, kubeconfig) for the
// attempt's session.
func (s *Server) attemptSession(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, err := s.ownedAttempt(c)
		if err != nil {
			return err
		}
		c.SetParamNames("id")
		c.SetParamValues(a.SessionID)
		return h(c)
	}
}

// watchExams finishes the attempts whose time is up and starts the clocks
// of those whose sandbox became ready, even when no page asks: the
// deadline holds with every browser closed, and after a restart.
func (s *Server) watchExams() {
	if len(s.opts.Exams) == 0 {
		return
	}
	s.background.Go(func() {
		tick := time.NewTicker(examWatchEvery)
		defer tick.Stop()
		for {
			ctx, cancel := context.WithTimeout(s.life, time.Minute)
			s.advanceAttempts(ctx)
			cancel()
			select {
			case <-s.life.Done():
				return
			case <-tick.C:
			}
		}
	})
}

func (s *Server) advanceAttempts(ctx context.Context) {
	due, err := s.store.DueAttempts(ctx, time.Now())
	if err == nil {
		var pending []store.Attempt
		pending, err = s.store.AttemptsIn(ctx, store.AttemptProvisioning)
		due = append(due, pending...)
	}
	if err != nil {
		if s.life.Err() == nil {
			s.log.Warn("exam deadline watch", "err", err)
		}
		return
	}
	for _, a := range due {
		if _, err := s.advanceAttempt(ctx, a); err != nil && s.life.Err() == nil {
			s.log.Warn("exam attempt not advanced", "attempt_id", a.ID, "err", err)
		}
	}
}
