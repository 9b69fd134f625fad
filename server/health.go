package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

type readyJSON struct {
	Status   string            `json:"status"`
	Problems map[string]string `json:"problems,omitempty"`
}

// healthz answers as long as the process serves HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, readyJSON{Status: "ok"})
}

// readyz answers 200 when the database is reachable and migrated and the
// cluster (if any) is ready; otherwise 503 naming what is not.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	problems := map[string]string{}
	if err := s.store.CheckSchema(ctx); err != nil {
		problems["database"] = err.Error()
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(ctx); err != nil {
			problems["cluster"] = err.Error()
		}
	}
	if len(problems) > 0 {
		return c.JSON(http.StatusServiceUnavailable, readyJSON{Status: "unavailable", Problems: problems})
	}
	return c.JSON(http.StatusOK, readyJSON{Status: "ok"})
}
