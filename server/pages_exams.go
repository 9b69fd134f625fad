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

// pageAttempt is the signed-in caller's attempt of the path and its draw;
// a nil draw with a nil error means the caller was sent to log in.
func (p *pages) pageAttempt(c echo.Context) (store.Attempt, *drawnAttempt, error) {
	if u, err := p.requireUser(c); u == nil {
		return store.Attempt{}, nil, err
	}
	a, err := p.s.ownedAttempt(c)
	if err != nil {
		return a, nil, err
	}
	d, err := p.s.drawOf(a)
	return a, d, err
}

func (p *pages) attempt(c echo.Context) error {
	a, d, err := p.pageAttempt(c)
	if d == nil {
		return err
	}
	ex := d.exam
	pd := p.data(c, "attempt", ex.Title)
	pd.Attempt = &attemptPage{ID: a.ID, Exam: ex.ID, Title: ex.Title, Minutes: minutesOf(a, d), PassMark: ex.PassMark, Tasks: len(d.draw.Tasks)}
	return p.render(c, http.StatusOK, pd)
}

func (p *pages) review(c echo.Context) error {
	a, d, err := p.pageAttempt(c)
	if d == nil {
		return err
	}
	if a, err = p.s.advanceAttempt(c.Request().Context(), a); err != nil {
		return err
	}
	if a.Status != store.AttemptFinished || a.Review == nil {
		return c.Redirect(http.StatusSeeOther, "/exams/attempts/"+a.ID)
	}
	pd := p.data(c, "review", "Review")
	rp := &reviewPage{ID: a.ID, Title: d.exam.Title, Retry: a.Task != ""}
	if err := json.Unmarshal(a.Review, &rp.reviewJSON); err != nil {
		return fmt.Errorf("review of attempt %s: %w", a.ID, err)
	}
	pd.Review = rp
	return p.render(c, http.StatusOK, pd)
}
