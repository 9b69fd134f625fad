package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/sandbox"
)

// targetCache keeps one grader target per session's current sandbox:
// building one discovers the cluster's API, which is too slow to repeat on
// every check. A reset replaces the entry; a session that ends evicts it.
type targetCache struct {
	mu sync.Mutex
	m  map[string]cachedTarget // by session id
}

type cachedTarget struct {
	sandboxID string
	target    grader.Target
}

func (tc *targetCache) get(session string, cfg *rest.Config, sb *sandbox.Sandbox) (grader.Target, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c, ok := tc.m[session]; ok && c.sandboxID == sb.ID {
		return c.target, nil
	}
	t, err := labshell.GraderTarget(cfg, sb)
	if err != nil {
		return grader.Target{}, err
	}
	if tc.m == nil {
		tc.m = map[string]cachedTarget{}
	}
	tc.m[session] = cachedTarget{sandboxID: sb.ID, target: t}
	return t, nil
}

func (tc *targetCache) evict(session string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.m, session)
}

func (s *Server) listTasks(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	if ss.Status != sandbox.StatusReady {
		return errSandboxNotReady
	}
	if results, ok := s.live.latest(ss.ID); ok {
		return c.JSON(http.StatusOK, results)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), evaluateTimeout)
	defer cancel()
	ch, prog, target, err := s.gradingTarget(ctx, ss)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.recordResults(ctx, ss, ch, prog.Evaluate(ctx, target), s.log))
}

func (s *Server) checkTask(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	if ss.Status != sandbox.StatusReady {
		return errSandboxNotReady
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), evaluateTimeout)
	defer cancel()
	ch, prog, target, err := s.gradingTarget(ctx, ss)
	if err != nil {
		return err
	}
	r, err := prog.EvaluateTask(ctx, target, c.Param("task"))
	if err != nil {
		return errNotFound
	}
	out := s.recordResults(ctx, ss, ch, []grader.TaskResult{r}, s.log)
	return c.JSON(http.StatusOK, out[0])
}

// revealSolution records that the caller reveals a task's solution and
// answers it: the learner asked for it after the hints. Reveals are part of
// the learner's progress.
func (s *Server) revealSolution(c echo.Context) error {
	u, ch, err := s.callerAndChapter(c)
	if err != nil {
		return err
	}
	t, err := s.catalog.Task(ch.ID, c.Param("task"))
	if err != nil {
		return errNotFound
	}
	at, err := s.store.RecordSolutionReveal(c.Request().Context(), u.ID, ch.ID, t.ID)
	if err != nil {
		return err
	}
	s.grids.changed("", u.ID)
	return c.JSON(http.StatusOK, solutionJSON{Task: t.ID, Solution: strings.TrimRight(t.Solution, "\n"), RevealedAt: at})
}

type solutionJSON struct {
	Task       string    `json:"task"`
	Solution   string    `json:"solution"` // shell, as labs test types it
	RevealedAt time.Time `json:"revealed_at"`
}
