package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The labs page: the learner's running labs, with the time each has left
// and a button to end it.

type labRow struct {
	ID, Chapter, Title, Status string
	URL                        string    // the lab's page: its chapter, or its exam attempt
	ExpiresAt                  time.Time // zero while queued or provisioning
}

func (p *pages) labs(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	rows, err := p.s.labRows(c)
	if err != nil {
		return err
	}
	d := p.data(c, "labs", "Your labs")
	d.Labs = rows
	return p.render(c, http.StatusOK, d)
}
