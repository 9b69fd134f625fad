package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// The error page: what a browser gets instead of JSON when a page fails.

type errorPage struct{ Title, Message, RequestID string }

// notFound answers unknown paths. handleError turns it into the error page
// or the JSON error, like every other error.
func (p *pages) notFound(echo.Context) error { return errNotFound }

// wantsPage reports whether an error answer should be the HTML error page:
// a browser navigating to a page, not a script calling the API.
func wantsPage(r *http.Request) bool {
	return r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/")
}

// renderError renders the error page with a fixed sentence from errors.go
// and the request id, which the learner can quote when asking for help.
func (p *pages) renderError(c echo.Context, status int, message, requestID string) error {
	title := "This did not work"
	switch {
	case status == http.StatusNotFound:
		title = "Page not found"
	case status >= 500:
		title = "Something went wrong"
	}
	d := p.data(c, "error", title)
	d.Error = &errorPage{Title: title, Message: message, RequestID: requestID}
	return p.render(c, status, d)
}
