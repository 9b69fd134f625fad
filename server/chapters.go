package server

import (
	"fmt"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/server/store"
)

type chapterSummaryJSON struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Summary string  `json:"summary"`
	Minutes int     `json:"minutes"`
	Order   int     `json:"order"`
	Tasks   int     `json:"tasks"`
	Passed  int     `json:"passed"`
	Score   float64 `json:"score"`
	Points  int     `json:"points"`
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
}

type progressJSON struct {
	Passed int     `json:"passed"`
	Total  int     `json:"total"`
	Score  float64 `json:"score"`
	Points int     `json:"points"`
}

type chapterJSON struct {
	ID          string       `json:"id"`
	Title       string       `json:"title"`
	Summary     string       `json:"summary"`
	Minutes     int          `json:"minutes"`
	Size        string       `json:"size"`
	Needs       []string     `json:"needs"`
	SimulatedOK bool         `json:"simulated_ok"`
	Steps       []stepJSON   `json:"steps"`
	Tasks       []taskJSON   `json:"tasks"`
	Progress    progressJSON `json:"progress"`
}

func chapterPoints(ch *labs.Chapter) int {
	n := 0
	for _, t := range ch.Tasks {
		n += t.Points
	}
	return n
}

// chapterProgress returns a user's stored results for a chapter, by task.
func (s *Server) chapterProgress(c echo.Context, ch *labs.Chapter) (map[string]store.TaskResultRow, error) {
	out := map[string]store.TaskResultRow{}
	u := userOf(c)
	if u == nil {
		return out, nil
	}
	rows, err := s.store.ChapterProgress(c.Request().Context(), u.ID, ch.ID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s in %s: %w", u.ID, ch.ID, err)
	}
	for _, r := range rows {
		out[r.Task] = r
	}
	return out, nil
}

func (s *Server) listChapters(c echo.Context) error {
	out := []chapterSummaryJSON{}
	for _, ch := range s.catalog.Chapters() {
		prog, err := s.chapterProgress(c, ch)
		if err != nil {
			return err
		}
		sum := chapterSummaryJSON{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Minutes: ch.Minutes,
			Order: ch.Order, Tasks: len(ch.Tasks), Points: chapterPoints(ch)}
		for _, t := range ch.Tasks {
			if r, ok := prog[t.ID]; ok {
				sum.Score += r.Score
				if r.Passed {
					sum.Passed++
				}
			}
		}
		out = append(out, sum)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getChapter(c echo.Context) error {
	ch, err := s.chapter(c)
	if err != nil {
		return err
	}
	prog, err := s.chapterProgress(c, ch)
	if err != nil {
		return err
	}
	out := chapterJSON{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Minutes: ch.Minutes, Size: ch.Size,
		Needs: append([]string{}, ch.Needs...), SimulatedOK: len(ch.Needs) == 0,
		Steps: []stepJSON{}, Tasks: []taskJSON{}}
	for _, st := range ch.Steps {
		out.Steps = append(out.Steps, stepJSON{ID: st.ID, Title: st.Title})
	}
	for _, t := range ch.Tasks {
		hints, err := s.catalog.HintsHTML(ch.ID, t.ID)
		if err != nil {
			return fmt.Errorf("hints of %s/%s: %w", ch.ID, t.ID, err)
		}
		tj := taskJSON{ID: t.ID, Step: t.Step, Title: t.Title, Points: t.Points, Challenge: t.Challenge, Hints: hints}
		if r, ok := prog[t.ID]; ok {
			tj.Passed, tj.Score = r.Passed, r.Score
		}
		out.Tasks = append(out.Tasks, tj)
		out.Progress.Total++
		out.Progress.Points += t.Points
		out.Progress.Score += tj.Score
		if tj.Passed {
			out.Progress.Passed++
		}
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
}

func (s *Server) progress(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	rows, err := s.store.Progress(c.Request().Context(), u.ID)
	if err != nil {
		return fmt.Errorf("progress of %s: %w", u.ID, err)
	}
	byChapter := map[string]store.ChapterProgressRow{}
	for _, r := range rows {
		byChapter[r.Chapter] = r
	}
	out := []chapterProgressJSON{}
	for _, ch := range s.catalog.Chapters() {
		r := byChapter[ch.ID]
		out = append(out, chapterProgressJSON{Chapter: ch.ID, Title: ch.Title, Passed: r.TasksPassed,
			Total: len(ch.Tasks), Score: r.Score, Points: chapterPoints(ch), Seconds: int64(r.Seconds)})
	}
	return c.JSON(http.StatusOK, out)
}
