package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/server/store"
)

// The chapter page: the lesson's steps with their tasks beside the
// terminal, and the images the lesson shows.

type chapterPage struct {
	ID, Title, Summary string
	Minutes            int
	Needs              []string
	SimulatedOK        bool
	CannotRunHere      string // why the lab cannot start on this kubelab ("": it can)
	Sandbox            string // "namespace" or "cluster"
	Nodes              []string
	Clusters           []string
	Steps              []*stepPage
	Total, Passed      int
	Points             int
	Score              float64
	// NextID and NextTitle name the next chapter: the workshop's, else the
	// catalog's ("" after the last).
	NextID, NextTitle string
	// Workshop is the learner's workshop that holds this chapter (nil: none):
	// the page names it and offers "Raise hand".
	Workshop *workshopRef
}

// workshopRef names a workshop on a learner's page.
type workshopRef struct {
	ID, Title string
}

type stepPage struct {
	ID, Title  string
	HTML       template.HTML
	Tasks      []taskPage
	Done       bool
	Prev, Next *stepPage
}

type taskPage struct {
	ID, Step, Title string
	Points          int
	Challenge       bool
	Hints           []template.HTML
	State           taskState
	Passed          bool
	Score           float64
	Revealed        bool // the learner has seen the solution
}

func (p *pages) chapter(c echo.Context) error {
	ch, err := p.s.catalog.Chapter(c.Param("chapter"))
	if errors.Is(err, labs.ErrNotFound) {
		return p.notFound(c)
	}
	if err != nil {
		return err
	}
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	prog, err := p.s.progressIn(c, ch)
	if err != nil {
		return err
	}
	cp := &chapterPage{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Minutes: ch.Minutes,
		Needs: ch.Needs, SimulatedOK: len(ch.Needs) == 0,
		Sandbox: ch.Sandbox, Nodes: nodesOf(ch), Clusters: ch.Clusters,
		Total: prog.Total, Passed: prog.Passed, Points: prog.Points, Score: prog.Score}
	if why := p.s.whyNotHere(ch); why != nil {
		cp.CannotRunHere = why.message
	}
	byStep := map[string]*stepPage{}
	for i, st := range ch.Steps {
		html, err := p.s.catalog.StepHTML(ch.ID, st.ID)
		if err != nil {
			return fmt.Errorf("render step %s/%s: %w", ch.ID, st.ID, err)
		}
		sp := &stepPage{ID: st.ID, Title: st.Title, HTML: html}
		if i > 0 {
			sp.Prev = cp.Steps[i-1]
			cp.Steps[i-1].Next = sp
		}
		cp.Steps = append(cp.Steps, sp)
		byStep[st.ID] = sp
	}
	for i, t := range ch.Tasks {
		view, err := p.s.catalog.TaskHTML(ch.ID, t.ID)
		if err != nil {
			return fmt.Errorf("render task %s/%s: %w", ch.ID, t.ID, err)
		}
		tp := prog.Tasks[i]
		if sp, ok := byStep[t.Step]; ok {
			sp.Tasks = append(sp.Tasks, taskPage{ID: t.ID, Step: t.Step, Title: t.Title, Points: t.Points, Challenge: t.Challenge,
				Hints: view.Hints, State: tp.State, Passed: tp.State == taskPassed, Score: tp.Score, Revealed: tp.Revealed})
		}
	}
	for _, sp := range cp.Steps {
		sp.Done = len(sp.Tasks) > 0
		for _, t := range sp.Tasks {
			sp.Done = sp.Done && t.Passed
		}
	}
	all := p.s.catalog.Chapters()
	for i, other := range all {
		if other.ID == ch.ID && i+1 < len(all) {
			cp.NextID, cp.NextTitle = all[i+1].ID, all[i+1].Title
		}
	}
	ws, err := p.s.liveWorkshops(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	for _, w := range ws {
		i := slices.Index(w.Chapters, ch.ID)
		if i < 0 {
			continue
		}
		cp.Workshop = &workshopRef{ID: w.ID, Title: w.Title}
		// The chapter after this one is the workshop's next, while it has one.
		if i+1 < len(w.Chapters) {
			if next, err := p.s.catalog.Chapter(w.Chapters[i+1]); err == nil {
				cp.NextID, cp.NextTitle = next.ID, next.Title
			}
		}
		break
	}
	d := p.data(c, "chapter", ch.Title)
	d.Chapter = cp
	return p.render(c, http.StatusOK, d)
}

// liveWorkshops lists the workshops a learner joined that have not ended,
// the latest joined first: the ones their pages show.
func (s *Server) liveWorkshops(ctx context.Context, userID string) ([]store.Workshop, error) {
	ws, err := s.store.WorkshopsOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return slices.DeleteFunc(ws, func(w store.Workshop) bool { return w.Over(now) }), nil
}

// chapterAsset serves an image of a chapter folder (lesson images).
func (p *pages) chapterAsset(c echo.Context) error {
	data, ctype, err := p.s.catalog.Asset(c.Param("chapter"), c.Param("*"))
	if errors.Is(err, labs.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, ctype, data)
}
