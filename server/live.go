package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

type checkJSON struct {
	Passed  bool   `json:"passed"`
	Message string `json:"message,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Error   string `json:"error,omitempty"`
}

type taskResultJSON struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Step      string      `json:"step"`
	Points    int         `json:"points"`
	Score     float64     `json:"score"`
	Passed    bool        `json:"passed"`
	Challenge bool        `json:"challenge,omitempty"`
	Checks    []checkJSON `json:"checks"`
}

func toTaskResultJSON(ch *labs.Chapter, r grader.TaskResult) taskResultJSON {
	out := taskResultJSON{ID: r.ID, Title: r.Title, Points: r.Points, Score: r.Score, Passed: r.Passed, Checks: []checkJSON{}}
	for _, t := range ch.Tasks {
		if t.ID == r.ID {
			out.Step, out.Challenge = t.Step, t.Challenge
		}
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, checkJSON{Passed: c.Passed, Message: c.Message, Detail: c.Detail, Error: c.Error})
	}
	return out
}

// liveGrading runs one grader watch per ready session: results are stored
// as progress and pushed to the session's event stream as they change.
// Every watch goroutine is tracked; wait returns when all have ended.
type liveGrading struct {
	s  *Server
	wg sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*liveSession
}

type liveSession struct {
	cancel  context.CancelFunc
	order   []string                  // task ids in chapter order; fixed at start
	results map[string]taskResultJSON // by task id
}

func newLiveGrading(s *Server) *liveGrading {
	return &liveGrading{s: s, sessions: map[string]*liveSession{}}
}

// ensure starts grading a ready session unless it already runs.
func (l *liveGrading) ensure(ss sandbox.Session) {
	if strings.HasPrefix(ss.Chapter, attemptChapterPrefix) {
		return // an exam shows no grading while it runs; it is graded at its end
	}
	ch, err := l.s.catalog.Chapter(ss.Chapter)
	if err != nil {
		l.s.log.Warn("live grading not started", "session_id", ss.ID, "chapter", ss.Chapter, "err", err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.sessions[ss.ID]; ok || l.s.life.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(l.s.life)
	ls := &liveSession{cancel: cancel, results: map[string]taskResultJSON{}}
	for _, t := range ch.Tasks {
		ls.order = append(ls.order, t.ID)
	}
	l.sessions[ss.ID] = ls
	l.wg.Go(func() {
		defer l.release(ss.ID, ls)
		l.run(ctx, ss)
	})
}

// stop ends the session's grading, whichever watch runs it.
func (l *liveGrading) stop(id string) {
	l.mu.Lock()
	ls := l.sessions[id]
	delete(l.sessions, id)
	l.mu.Unlock()
	if ls != nil {
		ls.cancel()
	}
}

// release removes ls when its watch ends, unless a newer watch (after a
// reset) has taken the session's place.
func (l *liveGrading) release(id string, ls *liveSession) {
	ls.cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[id] == ls {
		delete(l.sessions, id)
	}
}

// wait blocks until every watch has ended (after the server's life ended).
func (l *liveGrading) wait() { l.wg.Wait() }

// latest returns the last results of a session's tasks, in chapter order.
func (l *liveGrading) latest(id string) ([]taskResultJSON, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.sessions[id]
	if !ok || len(ls.results) == 0 {
		return nil, false
	}
	out := make([]taskResultJSON, 0, len(ls.order))
	for _, id := range ls.order {
		if r, ok := ls.results[id]; ok {
			out = append(out, r)
		}
	}
	return out, true
}

// remember keeps the latest results of a session that is being graded live.
func (l *liveGrading) remember(id string, results []taskResultJSON) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls, ok := l.sessions[id]; ok {
		for _, r := range results {
			ls.results[r.ID] = r
		}
	}
}

func (l *liveGrading) run(ctx context.Context, ss sandbox.Session) {
	log := l.s.log.With("session_id", ss.ID, "chapter", ss.Chapter)
	ch, prog, target, err := l.s.gradingTarget(ctx, ss)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("live grading not started", "err", err)
		}
		return
	}
	err = prog.Watch(ctx, target, func(changed []grader.TaskResult) {
		l.s.recordResults(ctx, ss, ch, changed, log)
	})
	if err != nil && ctx.Err() == nil {
		log.Warn("live grading stopped", "err", err)
	}
}

// recordResults stores results as progress and publishes them.
func (s *Server) recordResults(ctx context.Context, ss sandbox.Session, ch *labs.Chapter, results []grader.TaskResult, log *slog.Logger) []taskResultJSON {
	out := make([]taskResultJSON, 0, len(results))
	rows := make([]store.TaskResultRow, 0, len(results))
	for _, r := range results {
		out = append(out, toTaskResultJSON(ch, r))
		if !hasEvalError(r) {
			rows = append(rows, store.TaskResultRow{Task: r.ID, Passed: r.Passed, Score: r.Score})
		}
	}
	if len(rows) > 0 {
		if err := s.store.RecordTaskResults(ctx, ss.Owner, ss.Chapter, rows); err != nil && ctx.Err() == nil {
			log.Error("record task results", "err", err)
		}
	}
	s.live.remember(ss.ID, out)
	s.events.publish(ss.ID, "tasks", out)
	s.grids.changed("", ss.Owner)
	return out
}

// hasEvalError reports whether a check could not be evaluated: such a
// result says nothing about the learner's progress, so it is not stored.
func hasEvalError(r grader.TaskResult) bool {
	for _, c := range r.Checks {
		if c.Error != "" {
			return true
		}
	}
	return false
}

// gradingTarget returns what the grader needs to read a session's sandbox.
func (s *Server) gradingTarget(ctx context.Context, ss sandbox.Session) (*labs.Chapter, *grader.Program, grader.Target, error) {
	ch, err := s.catalog.Chapter(ss.Chapter)
	if err != nil {
		return nil, nil, grader.Target{}, fmt.Errorf("chapter %s: %w", ss.Chapter, err)
	}
	prog := s.programs[ch.ID]
	if prog == nil {
		return nil, nil, grader.Target{}, fmt.Errorf("no compiled checks for chapter %s", ch.ID)
	}
	sb, err := s.sandboxes.Sandbox(ctx, ss.ID)
	if err != nil {
		return nil, nil, grader.Target{}, fmt.Errorf("sandbox of %s: %w", ss.ID, err)
	}
	target, err := s.targets.get(ss.ID, s.opts.ClusterConfig, sb)
	if err != nil {
		return nil, nil, grader.Target{}, err
	}
	return ch, prog, target, nil
}

// evaluateTimeout bounds an on-demand evaluation of a chapter's checks:
// an exec or probe check may take up to a minute (a probe Pod must start),
// and may wait for the live grader's own to finish first.
const evaluateTimeout = 90 * time.Second
