package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
)

// The home page: the catalog, with the learner's progress on every card.

type catalogCard struct {
	ID, Title, Summary       string
	Order, Minutes           int
	Tasks, Passed, Points    int
	Score                    float64
	Simulated, Started, Done bool
	OwnCluster               bool // `sandbox: cluster`: a cluster of the learner's own
}

func (p *pages) home(c echo.Context) error {
	d := p.data(c, "home", "")
	progress, err := p.s.catalogProgress(c)
	if err != nil {
		return err
	}
	for _, ch := range p.s.catalog.Chapters() {
		pr := progress[ch.ID]
		d.Chapters = append(d.Chapters, catalogCard{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Order: ch.Order,
			Minutes: ch.Minutes, Tasks: pr.Total, Passed: pr.Passed, Points: pr.Points, Score: pr.Score,
			Simulated: len(ch.Needs) == 0, OwnCluster: ch.Sandbox == labs.SandboxCluster, Started: pr.Started, Done: pr.Done})
		d.TotalMinutes += ch.Minutes
		d.Returning = d.Returning || pr.Started
	}
	if d.User != nil {
		d.Continue = continueWith(d.Chapters)
	}
	return p.render(c, http.StatusOK, d)
}

// continueWith picks the chapter to offer on the home page: the first one
// started and not done, else the first one not done.
func continueWith(cards []catalogCard) *catalogCard {
	for i := range cards {
		if cards[i].Started && !cards[i].Done {
			return &cards[i]
		}
	}
	for i := range cards {
		if !cards[i].Done {
			return &cards[i]
		}
	}
	return nil
}
