package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

type readyJSON struct {
	Status string `json:"status"`
}

// healthz answers as long as the process serves HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, readyJSON{Status: "ok"})
}

// readyz answers 200 when the database is reachable and migrated and the
// cluster (if any) is ready, else 503. Anyone may ask, so the answer names
// nothing; what is wrong goes to the log.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	var failing []string
	var details []any
	if err := s.store.CheckSchema(ctx); err != nil {
		failing, details = append(failing, "database"), append(details, "database", err)
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(ctx); err != nil {
			failing, details = append(failing, "cluster"), append(details, "cluster", err)
		}
	}
	s.ready.observe(s.log, strings.Join(failing, ", "), details)
	if len(failing) > 0 {
		return c.JSON(http.StatusServiceUnavailable, readyJSON{Status: "not ready"})
	}
	return c.JSON(http.StatusOK, readyJSON{Status: "ready"})
}

// readiness remembers what /readyz found last, so that the log says when a
// dependency goes away or comes back, not once per probe.
type readiness struct {
	mu      sync.Mutex
	failing string // what was not ready at the last probe; "" when all was
}

// observe logs a change of what is failing, with the errors as details.
func (r *readiness) observe(log *slog.Logger, failing string, details []any) {
	r.mu.Lock()
	was := r.failing
	r.failing = failing
	r.mu.Unlock()
	switch {
	case failing == was:
	case failing == "":
		log.Info("ready again", "was_failing", was)
	default:
		log.Warn("not ready", append([]any{"failing", failing}, details...)...)
	}
}
