package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/grader"
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

func errStatus(status int, message string) *httpError {
	return &httpError{status: status, message: message}
}

// Every message a learner sees is a fixed sentence, never built from input
// or from another error: a full sentence, capitalised, ending with a
// period, saying what to do where there is something to do. The request id
// goes beside it. TestErrorSentences holds them to that style; the
// handlers' own sentences (auth.go, middleware.go) are listed there too.
var (
	errNotFound = errStatus(http.StatusNotFound,
		"There is nothing at this address. Check the link, or start again from the catalog.")
	errInternal = errStatus(http.StatusInternalServerError,
		"Something went wrong on our side. Try again in a moment; if it keeps happening, report the request id.")
	errCanceled        = errStatus(499, "The request was canceled before it finished.")
	errTooLarge        = errStatus(http.StatusRequestEntityTooLarge, "The request body is too large. Send at most 64 KB.")
	errSandboxNotReady = errStatus(http.StatusConflict, "The sandbox is not ready yet. Wait until it is, then try again.")
	errNeedsRuntime    = errStatus(http.StatusConflict, "This chapter needs containers that really run, and this kubelab runs a simulated cluster. Whoever runs kubelab can start it with --sandbox=kind (or --kubeconfig at a real cluster).")
	errNeedsCluster    = errStatus(http.StatusConflict, "This chapter needs a cluster of your own, and this kubelab gives namespaces on a shared cluster only. Whoever runs kubelab can start it without --kubeconfig (simulated clusters of one's own) or with --sandbox=kind.")
	errNeedsClusters   = errStatus(http.StatusConflict, "This chapter needs several clusters of your own, and this kubelab's clusters (kind) come one per learner. Whoever runs kubelab can start it with its embedded defaults (simulated clusters of one's own).")
	errExtendLimit     = errStatus(http.StatusConflict,
		"This session has reached its longest allowed lifetime and cannot be extended further. Start a new one when it ends.")
	// Guests have a share of the sandboxes; past it they are refused (the
	// rest is kept for registered learners). Over the global cap, starts queue.
	errGuestLimit = errStatus(http.StatusServiceUnavailable,
		"Every sandbox kept for guests is in use just now. Sign up (it is free) to get one, or try again in a few minutes.")
	errLabLimit = errStatus(http.StatusConflict,
		"You already have as many labs running as you may: end one (End on its chapter page) to start this one.")
)

// handleError is the only place that turns errors into HTTP responses: the
// error page for a browser's page request, JSON otherwise.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	he := toHTTPError(err)
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if he.status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed",
			"err", err, "route", c.Path(), "request_id", rid)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(he.status)
		return
	}
	if s.pages != nil && wantsPage(c.Request()) {
		perr := s.pages.renderError(c, he.status, he.message, rid)
		if perr == nil {
			return
		}
		s.log.ErrorContext(c.Request().Context(), "render error page", "err", perr, "request_id", rid)
	}
	_ = c.JSON(he.status, apiError{Error: he.message, RequestID: rid})
}

// toHTTPError maps any error to its status and sentence.
func toHTTPError(err error) *httpError {
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &ee):
		return echoError(ee.Code)
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, context.Canceled):
		return errCanceled
	}
	status, msg := domainStatus(err)
	return errStatus(status, msg)
}

// echoError maps the errors echo itself returns (body limit, routing:
// pageRoutes answers unknown paths of every method with errNotFound),
// keeping their status.
func echoError(code int) *httpError {
	switch {
	case code == http.StatusNotFound:
		return errNotFound
	case code == http.StatusRequestEntityTooLarge:
		return errTooLarge
	case code >= 500:
		return errStatus(code, errInternal.message)
	}
	return errStatus(code, refusedMessage)
}

// refusedMessage answers the 4xx errors of echo that no handler names.
const refusedMessage = "The request was refused. Check it and try again."

// domainStatus maps the sentinel errors of the domain packages.
func domainStatus(err error) (int, string) {
	var he *httpError
	switch {
	case errors.Is(err, labs.ErrNotFound), errors.Is(err, sandbox.ErrNotFound), errors.Is(err, grader.ErrUnknownTask):
		he = errNotFound
	case errors.Is(err, sandbox.ErrExtendLimit):
		he = errExtendLimit
	case errors.Is(err, sandbox.ErrNotReady):
		he = errSandboxNotReady
	case errors.Is(err, sandbox.ErrCapacity):
		he = errLabLimit
	case errors.Is(err, sandbox.ErrGuestCapacity):
		he = errGuestLimit
	default:
		he = errInternal
	}
	return he.status, he.message
}
