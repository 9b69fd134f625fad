package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// The workshop pages: an instructor's events with the form that makes one,
// an event's live grid, the join page, and the admin's list of users. Each
// page is a shell that its module fills from the workshops API
// (workshops.go, workshop_grid.go); the handlers only decide who may see
// it. A learner, or another instructor on someone else's event, gets the
// same 404 page as for an address that does not exist.

// workshopsPage is what the workshop pages render beyond the layout.
type workshopsPage struct {
	Chapters   []chapterOption // the catalog, for the chapter picker of an event's form
	EventID    string          // the event page's event
	EventTitle string
	Code       string // the join page's code, from /join/:code
}

// chapterOption is a chapter offered in an event's form.
type chapterOption struct{ ID, Title string }

func (p *pages) chapterOptions() []chapterOption {
	var out []chapterOption
	for _, ch := range p.s.catalog.Chapters() {
		out = append(out, chapterOption{ID: ch.ID, Title: ch.Title})
	}
	return out
}

// events lists the instructor's events and offers the form to make one.
func (p *pages) events(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	if _, err := teacher(c); err != nil {
		return err
	}
	d := p.data(c, "events", "Events")
	d.Workshops = &workshopsPage{Chapters: p.chapterOptions()}
	return p.render(c, http.StatusOK, d)
}

// event is one event's live grid, with everything the instructor does
// from the front of the room.
func (p *pages) event(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	w, _, err := p.s.ownWorkshop(c)
	if err != nil {
		return err
	}
	d := p.data(c, "event", w.Title)
	d.Workshops = &workshopsPage{Chapters: p.chapterOptions(), EventID: w.ID, EventTitle: w.Title}
	return p.render(c, http.StatusOK, d)
}

// join asks for an event's code (prefilled from /join/:code) and, from a
// visitor who is not signed in, the name to join with as a guest.
func (p *pages) join(c echo.Context) error {
	d := p.data(c, "join", "Join a workshop")
	code := c.Param("code")
	if n := normCode(code); n != "" {
		code = n
	} else if !plainCode(code) {
		code = "" // the page shows a mistyped code as typed, but nothing else
	}
	d.Workshops = &workshopsPage{Code: code}
	d.Next = "/join"
	if d.Workshops.Code != "" {
		d.Next = "/join/" + d.Workshops.Code
	}
	return p.render(c, http.StatusOK, d)
}

// adminUsers finds users and makes them instructors (admins only).
func (p *pages) adminUsers(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	if _, err := admin(c); err != nil {
		return err
	}
	return p.render(c, http.StatusOK, p.data(c, "admin-users", "Instructors and users"))
}

// plainCode reports whether s could be a mistyped code: a few letters,
// digits and dashes.
func plainCode(s string) bool {
	if len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}
