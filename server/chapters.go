package server

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
)

type chapterSummaryJSON struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Summary string   `json:"summary"`
	Minutes int      `json:"minutes"`
	Order   int      `json:"order"`
	Sandbox string   `json:"sandbox"` // "namespace" or "cluster"
	Needs   []string `json:"needs"`
	// Available: this kubelab can start the chapter's lab (a chapter that
	// needs real containers cannot start on the simulated cluster).
	Available bool    `json:"available"`
	Tasks     int     `json:"tasks"`
	Passed    int     `json:"passed"`
	Score     float64 `json:"score"`
	Points    int     `json:"points"`
	Started   bool    `json:"started"`
	Done      bool    `json:"done"`
}

type stepJSON struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type taskJSON struct {
	ID        string          `json:"id"`
	Step      string          `json:"step"`
	Title     string          `json:"title"`
	Points    int             `json:"points"`
	Challenge bool            `json:"challenge,omitempty"`
	Hints     []template.HTML `json:"hints"`
	Passed    bool            `json:"passed"`
	Score     float64         `json:"score"`
	State     taskState       `json:"state"`
}

type progressJSON struct {
	Passed  int     `json:"passed"`
	Total   int     `json:"total"`
	Score   float64 `json:"score"`
	Points  int     `json:"points"`
	Started bool    `json:"started"`
	Done    bool    `json:"done"`
}

type chapterJSON struct {
	ID          string       `json:"id"`
	Title       string       `json:"title"`
	Summary     string       `json:"summary"`
	Minutes     int          `json:"minutes"`
	Size        string       `json:"size"`
	Sandbox     string       `json:"sandbox"`            // "namespace" or "cluster"
	Nodes       []string     `json:"nodes,omitempty"`    // a cluster's nodes, the control plane first
	Clusters    []string     `json:"clusters,omitempty"` // further clusters: their kubeconfig contexts
	Needs       []string     `json:"needs"`
	SimulatedOK bool         `json:"simulated_ok"`
	Available   bool         `json:"available"`
	Steps       []stepJSON   `json:"steps"`
	Tasks       []taskJSON   `json:"tasks"`
	Progress    progressJSON `json:"progress"`
}

func (s *Server) listChapters(c echo.Context) error {
	progress, err := s.catalogProgress(c)
	if err != nil {
		return err
	}
	out := []chapterSummaryJSON{}
	for _, ch := range s.catalog.Chapters() {
		p := progress[ch.ID]
		out = append(out, chapterSummaryJSON{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Minutes: ch.Minutes,
			Order: ch.Order, Sandbox: ch.Sandbox, Needs: append([]string{}, ch.Needs...), Available: s.canRun(ch), Tasks: p.Total, Passed: p.Passed, Score: p.Score, Points: p.Points, Started: p.Started, Done: p.Done})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getChapter(c echo.Context) error {
	ch, err := s.chapter(c)
	if err != nil {
		return err
	}
	p, err := s.progressIn(c, ch)
	if err != nil {
		return err
	}
	out := chapterJSON{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Minutes: ch.Minutes, Size: ch.Size,
		Sandbox: ch.Sandbox, Nodes: nodesOf(ch), Clusters: ch.Clusters, Needs: append([]string{}, ch.Needs...), SimulatedOK: len(ch.Needs) == 0, Available: s.canRun(ch),
		Steps: []stepJSON{}, Tasks: []taskJSON{},
		Progress: progressJSON{Passed: p.Passed, Total: p.Total, Score: p.Score, Points: p.Points, Started: p.Started, Done: p.Done}}
	for _, st := range ch.Steps {
		out.Steps = append(out.Steps, stepJSON{ID: st.ID, Title: st.Title})
	}
	for i, t := range ch.Tasks {
		hints, err := s.catalog.HintsHTML(ch.ID, t.ID)
		if err != nil {
			return fmt.Errorf("hints of %s/%s: %w", ch.ID, t.ID, err)
		}
		tp := p.Tasks[i]
		out.Tasks = append(out.Tasks, taskJSON{ID: t.ID, Step: t.Step, Title: t.Title, Points: t.Points, Challenge: t.Challenge,
			Hints: hints, Passed: tp.State == taskPassed, Score: tp.Score, State: tp.State})
	}
	return c.JSON(http.StatusOK, out)
}

type chapterProgressJSON struct {
	Chapter string  `json:"chapter"`
	Title   string  `json:"title"`
	Passed  int     `json:"passed"`
	Total   int     `json:"total"`
	Score   float64 `json:"score"`
	Points  int     `json:"points"`
	Seconds int64   `json:"seconds"`
	Started bool    `json:"started"`
	Done    bool    `json:"done"`
}

func (s *Server) progress(c echo.Context) error {
	if _, err := currentUser(c); err != nil {
		return err
	}
	progress, err := s.catalogProgress(c)
	if err != nil {
		return err
	}
	out := []chapterProgressJSON{}
	for _, ch := range s.catalog.Chapters() {
		p := progress[ch.ID]
		out = append(out, chapterProgressJSON{Chapter: ch.ID, Title: ch.Title, Passed: p.Passed, Total: p.Total,
			Score: p.Score, Points: p.Points, Seconds: p.Seconds, Started: p.Started, Done: p.Done})
	}
	return c.JSON(http.StatusOK, out)
}

// whyNotHere says why this kubelab cannot start the chapter's lab (nil: it
// can): one that needs real containers cannot run on the simulated
// cluster, where its checks would grade pretend containers, and one that
// needs a cluster of the learner's own cannot run where kubelab gives only
// namespaces.
func (s *Server) whyNotHere(ch *labs.Chapter) *httpError {
	switch {
	case s.opts.Simulated && slices.Contains(ch.Needs, labs.NeedRuntime):
		return errNeedsRuntime
	case ch.Sandbox == labs.SandboxCluster && !s.opts.OwnClusters:
		return errNeedsCluster
	case len(ch.Clusters) > 0 && !s.opts.FurtherClusters:
		return errNeedsClusters
	}
	return nil
}

func (s *Server) canRun(ch *labs.Chapter) bool { return s.whyNotHere(ch) == nil }

// nodesOf is the node layout of a cluster chapter, nil for a namespace one.
func nodesOf(ch *labs.Chapter) []string {
	if ch.Sandbox != labs.SandboxCluster {
		return nil
	}
	if ch.Nodes == nil {
		return labs.DefaultNodes
	}
	return ch.Nodes
}
