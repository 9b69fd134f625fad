package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// The progress page: the learner's standing in every chapter, and totals.

type progressPage struct {
	Rows                             []progressRow
	ChaptersDone, TasksPassed, Tasks int
	Points                           int
	Score                            float64
	Seconds                          int64
}

type progressRow struct {
	ID, Title     string
	Passed, Total int
	Points        int
	Score         float64
	Seconds       int64
	Started, Done bool
}

func (p *pages) progress(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	progress, err := p.s.catalogProgress(c)
	if err != nil {
		return err
	}
	pp := &progressPage{}
	for _, ch := range p.s.catalog.Chapters() {
		pr := progress[ch.ID]
		pp.Rows = append(pp.Rows, progressRow{ID: ch.ID, Title: ch.Title, Passed: pr.Passed, Total: pr.Total,
			Points: pr.Points, Score: pr.Score, Seconds: pr.Seconds, Started: pr.Started, Done: pr.Done})
		pp.Tasks += pr.Total
		pp.TasksPassed += pr.Passed
		pp.Points += pr.Points
		pp.Score += pr.Score
		pp.Seconds += pr.Seconds
		if pr.Done {
			pp.ChaptersDone++
		}
	}
	d := p.data(c, "progress", "Progress")
	d.Progress = pp
	return p.render(c, http.StatusOK, d)
}
