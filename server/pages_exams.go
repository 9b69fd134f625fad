package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs/exams"
	"github.com/kubelab/kubelab/server/store"
)

// The exam pages: the exams with the learner's attempts, an attempt
// (timer, tasks, terminal), and its review.

type examsPage struct {
	Exams    []*exams.Exam
	Attempts []attemptRow
	Trend    map[string][]float64 // by exam: finished attempts' percents, oldest first
}

type attemptRow struct {
	store.Attempt
	Title   string
	Percent float64
}

type attemptPage struct {
	ID, Exam, Title string
	Minutes         int
	PassMark        int
	Tasks           int
}

type reviewPage struct {
	ID, Title string
	Retry     bool // the review of a retried task (no retries of retries)
	reviewJSON
}

func (p *pages) exams(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	list, err := p.s.store.AttemptsOf(c.Request().Context(), u.ID, "")
	if err != nil {
		return err
	}
	d := p.data(c, "exams", "Practice exams")
	d.Exams = &examsPage{Exams: p.s.opts.Exams}
	for _, a := range list {
		row := attemptRow{Attempt: a, Title: a.Exam}
		if ex, err := p.s.exam(a.Exam); err == nil {
			row.Title = ex.Title
		}
		if a.Task != "" {
			row.Title += " (one task retried)"
		}
		if a.MaxScore > 0 {
			row.Percent = 100 * a.Score / float64(a.MaxScore)
		}
		d.Exams.Attempts = append(d.Exams.Attempts, row)
	}
	d.Exams.Trend = map[string][]float64{}
	for i := len(d.Exams.Attempts) - 1; i >= 0; i-- { // the list is newest first
		if r := d.Exams.Attempts[i]; r.Status == store.AttemptFinished && r.Task == "" { // retries of one task are no trend
			d.Exams.Trend[r.Exam] = append(d.Exams.Trend[r.Exam], r.Percent)
		}
	}
	return p.render(c, http.StatusOK, d)
}

func (p *pages) attempt(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	a, err := p.s.ownedAttempt(c)
	if err != nil {
		return err
	}
	ex, err := p.s.exam(a.Exam)
	if err != nil {
		return err
	}
	d := p.data(c, "attempt", ex.Title)
	d.Attempt = &attemptPage{ID: a.ID, Exam: ex.ID, Title: ex.Title, Minutes: ex.Minutes, PassMark: ex.PassMark, Tasks: ex.Draw}
	return p.render(c, http.StatusOK, d)
}

func (p *pages) review(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	a, err := p.s.ownedAttempt(c)
	if err != nil {
		return err
	}
	if a, err = p.s.advanceAttempt(c.Request().Context(), a); err != nil {
		return err
	}
	if a.Status != store.AttemptFinished || a.Review == nil {
		return c.Redirect(http.StatusSeeOther, "/exams/attempts/"+a.ID)
	}
	d := p.data(c, "review", "Review")
	rp := &reviewPage{ID: a.ID, Title: a.Exam, Retry: a.Task != ""}
	if ex, err := p.s.exam(a.Exam); err == nil {
		rp.Title = ex.Title
	}
	if err := json.Unmarshal(a.Review, &rp.reviewJSON); err != nil {
		return fmt.Errorf("review of attempt %s: %w", a.ID, err)
	}
	d.Review = rp
	return p.render(c, http.StatusOK, d)
}
