package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// apiError is the body of every error response.
type apiError struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id"`
}

// httpError is an error with a status and a message safe to show to the
// caller. Handlers return it for input problems; anything else becomes a 500
// whose details stay in the log.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return e.message }

func errStatus(status int, message string) error { return &httpError{status: status, message: message} }

var errNotFound = errStatus(http.StatusNotFound, "not found")

// handleError is the only place that turns errors into HTTP responses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "internal error"
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.message
	case errors.As(err, &ee):
		status, msg = ee.Code, http.StatusText(ee.Code)
		if ee.Code == http.StatusRequestEntityTooLarge {
			msg = "request body too large"
		}
	case errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "not found"
	case errors.Is(err, context.Canceled):
		status, msg = 499, "request canceled"
	default:
		status, msg = domainStatus(err)
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed",
			"err", err, "route", c.Path(), "request_id", rid)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, apiError{Error: msg, RequestID: rid})
}

// domainStatus maps the sentinel errors of the domain packages.
func domainStatus(err error) (int, string) {
	switch {
	case errors.Is(err, labs.ErrNotFound), errors.Is(err, sandbox.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, sandbox.ErrExtendLimit):
		return http.StatusConflict, "this session has reached its longest allowed lifetime and cannot be extended further"
	case errors.Is(err, sandbox.ErrNotReady):
		return http.StatusConflict, "the sandbox is not ready yet"
	case errors.Is(err, sandbox.ErrCapacity):
		// Only the per-learner cap refuses: over the global cap, starts queue.
		return http.StatusConflict, "you already have as many labs running as you may; end one (End on its chapter page) to start this one"
	}
	return http.StatusInternalServerError, "internal error"
}
