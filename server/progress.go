package server

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// taskState is where a learner stands on one task. The words are part of
// the API (the "state" of a task in GET /api/v1/chapters/{chapter}).
type taskState string

const (
	// taskNotStarted: never passed and no points yet. The live grader stores
	// a 0-point result for every task as soon as a sandbox is ready, so a
	// stored result alone does not mean the learner started.
	taskNotStarted taskState = "not_started"
	// taskFailing: not passed, but the learner reached some points.
	taskFailing taskState = "failing"
	// taskPassed: passed at least once. It stays passed, with full points,
	// when later work changes the objects it checked.
	taskPassed taskState = "passed"
)

// taskProgress is a learner's standing on one task.
type taskProgress struct {
	State    taskState
	Score    float64 // full points once passed, else the best partial score
	Revealed bool    // the learner has seen the solution
}

// chapterProgress is a learner's standing in one chapter.
type chapterProgress struct {
	Tasks   []taskProgress // in the order of the chapter's tasks
	Total   int            // tasks in the chapter
	Passed  int
	Points  int // full points of the chapter
	Score   float64
	Started bool  // some task is passed or failing
	Done    bool  // every task passed
	Seconds int64 // time in the chapter's labs (catalogProgress); at least from the first to the latest stored result
}

// progressOf is the one progress rule: it turns a learner's stored results
// in a chapter (store.ChapterProgress) into what every page and API shows.
func progressOf(ch *labs.Chapter, rows []store.TaskResultRow) chapterProgress {
	p := chapterProgress{Total: len(ch.Tasks), Tasks: make([]taskProgress, 0, len(ch.Tasks))}
	byTask := make(map[string]store.TaskResultRow, len(rows))
	var first, last time.Time
	for _, r := range rows {
		byTask[r.Task] = r
		// Results of tasks no longer in the chapter still count as time spent.
		if first.IsZero() || r.FirstSeenAt.Before(first) {
			first = r.FirstSeenAt
		}
		if r.UpdatedAt.After(last) {
			last = r.UpdatedAt
		}
	}
	if len(rows) > 0 {
		p.Seconds = int64(last.Sub(first).Round(time.Second) / time.Second)
	}
	for _, t := range ch.Tasks {
		tp := taskProgress{State: taskNotStarted}
		r := byTask[t.ID]
		switch {
		case r.FirstPassedAt != nil:
			tp = taskProgress{State: taskPassed, Score: float64(t.Points)}
		case r.Score > 0:
			tp = taskProgress{State: taskFailing, Score: r.Score}
		}
		tp.Revealed = r.SolutionRevealedAt != nil
		p.Tasks = append(p.Tasks, tp)
		p.Points += t.Points
		p.Score += tp.Score
		if tp.State == taskPassed {
			p.Passed++
		}
		p.Started = p.Started || tp.State != taskNotStarted
	}
	p.Done = p.Total > 0 && p.Passed == p.Total
	return p
}

// progressIn returns the caller's progress in a chapter; an anonymous
// caller has none.
func (s *Server) progressIn(c echo.Context, ch *labs.Chapter) (chapterProgress, error) {
	u := userOf(c)
	if u == nil {
		return progressOf(ch, nil), nil
	}
	rows, err := s.store.ChapterProgress(c.Request().Context(), u.ID, ch.ID)
	if err != nil {
		return chapterProgress{}, fmt.Errorf("progress of %s in %s: %w", u.ID, ch.ID, err)
	}
	return progressOf(ch, rows), nil
}

// catalogProgress returns the caller's progress in every chapter of the
// catalog, by chapter id, from one query.
func (s *Server) catalogProgress(c echo.Context) (map[string]chapterProgress, error) {
	byChapter := map[string][]store.TaskResultRow{}
	labSeconds := map[string]int64{}
	if u := userOf(c); u != nil {
		rows, err := s.store.Progress(c.Request().Context(), u.ID)
		if err != nil {
			return nil, fmt.Errorf("progress of %s: %w", u.ID, err)
		}
		for _, r := range rows {
			byChapter[r.Chapter] = append(byChapter[r.Chapter], r)
		}
		// Time in a lab runs from its sandbox being ready to the learner's
		// last activity in it: working before the first check counts too.
		labs, err := s.store.ListSandboxSessions(c.Request().Context(), sandbox.Filter{Owner: u.ID})
		if err != nil {
			return nil, fmt.Errorf("labs of %s: %w", u.ID, err)
		}
		for _, l := range labs {
			if !l.ReadyAt.IsZero() && l.ActiveAt.After(l.ReadyAt) {
				labSeconds[l.Chapter] += int64(l.ActiveAt.Sub(l.ReadyAt) / time.Second)
			}
		}
	}
	out := map[string]chapterProgress{}
	for _, ch := range s.catalog.Chapters() {
		p := progressOf(ch, byChapter[ch.ID])
		p.Seconds = max(p.Seconds, labSeconds[ch.ID])
		out[ch.ID] = p
	}
	return out, nil
}
