package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/sandbox"
)

// targetCache keeps one grader target per sandbox: building one discovers
// the cluster's API, which is too slow to repeat on every check.
type targetCache struct {
	mu sync.Mutex
	m  map[string]grader.Target
}

func (tc *targetCache) get(cfg *rest.Config, sb *sandbox.Sandbox) (grader.Target, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if t, ok := tc.m[sb.ID]; ok {
		return t, nil
	}
	t, err := grader.NewTarget(cfg, sb.Namespace, sb.Namespaces)
	if err != nil {
		return grader.Target{}, fmt.Errorf("grader target for sandbox %s: %w", sb.ID, err)
	}
	if tc.m == nil {
		tc.m = map[string]grader.Target{}
	}
	tc.m[sb.ID] = t
	return t, nil
}

func (s *Server) listTasks(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	if ss.Status != sandbox.StatusReady {
		return errStatus(http.StatusConflict, "the sandbox is not ready (status: "+ss.Status+")")
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
		return errStatus(http.StatusConflict, "the sandbox is not ready (status: "+ss.Status+")")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), evaluateTimeout)
	defer cancel()
	ch, prog, target, err := s.gradingTarget(ctx, ss)
	if err != nil {
		return err
	}
	s.sandboxes.Touch(ctx, ss.ID)
	r, err := prog.EvaluateTask(ctx, target, c.Param("task"))
	if err != nil {
		return errNotFound
	}
	out := s.recordResults(ctx, ss, ch, []grader.TaskResult{r}, s.log)
	return c.JSON(http.StatusOK, out[0])
}
