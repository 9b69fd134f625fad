package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
)

// The home page: the catalog, with the learner's progress on every card;
// for a learner in a workshop, the workshop's chapters first, in its order.

type catalogCard struct {
	ID, Title, Summary       string
	Order, Minutes           int
	Tasks, Passed, Points    int
	Score                    float64
	Simulated, Started, Done bool
	OwnCluster               bool // `sandbox: cluster`: a cluster of the learner's own
	Meter                    bool // the card shows the learner's progress (signed in)
}

// homeWorkshop is the workshop a learner joined, as the home page shows it.
type homeWorkshop struct {
	ID, Title, Instructor string
	Status                string // "scheduled" or "open"
	Chapters              []catalogCard
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
			Simulated: len(ch.Needs) == 0, OwnCluster: ch.Sandbox == labs.SandboxCluster, Started: pr.Started, Done: pr.Done,
			Meter: d.User != nil})
		d.TotalMinutes += ch.Minutes
		d.Returning = d.Returning || pr.Started
	}
	if d.User == nil {
		return p.render(c, http.StatusOK, d)
	}
	d.Continue = continueWith(d.Chapters)
	ws, err := p.s.liveWorkshops(c.Request().Context(), d.User.ID)
	if err != nil {
		return err
	}
	if len(ws) > 0 {
		w := ws[0]
		hw := &homeWorkshop{ID: w.ID, Title: w.Title, Instructor: w.OwnerName, Status: workshopStatus(w, time.Now())}
		for _, id := range w.Chapters {
			for _, card := range d.Chapters {
				if card.ID == id {
					card.Order = len(hw.Chapters) + 1 // numbered in the workshop's order
					hw.Chapters = append(hw.Chapters, card)
				}
			}
		}
		if c := continueWith(hw.Chapters); c != nil {
			d.Continue = c // the workshop's next chapter before the catalog's
		}
		d.Workshop = hw
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
