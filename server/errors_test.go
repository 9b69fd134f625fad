package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// sentence is the style of every message a learner sees: capitalised, one
// full stop at the end, no format verb (nor fmt's %!d(...) complaint).
var sentence = regexp.MustCompile(`^[A-Z][^%\n]*[^. ]\.$`)

func TestErrorSentences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *httpError
	}{
		{"errNotFound", errNotFound}, {"errInternal", errInternal}, {"errCanceled", errCanceled}, {"errTooLarge", errTooLarge},
		{"errSandboxNotReady", errSandboxNotReady}, {"errExtendLimit", errExtendLimit}, {"errLabLimit", errLabLimit},
		{"refusedMessage", errStatus(http.StatusBadRequest, refusedMessage)},
		{"errUnauthenticated", errUnauthenticated}, {"errBearerFormat", errBearerFormat}, {"errBadToken", errBadToken},
		{"errNotJSON", errNotJSON}, {"errMalformedJSON", errMalformedJSON}, {"errBadEmail", errBadEmail},
		{"errShortPassword", errShortPassword}, {"errLongPassword", errLongPassword}, {"errBadName", errBadName},
		{"errEmailTaken", errEmailTaken}, {"errBadLogin", errBadLogin}, {"errTooManyLogins", errTooManyLogins},
		{"errCrossSite", errCrossSite}, {"errUnknownHost", errUnknownHost}, {"errTooManyAccounts", errTooManyAccounts}, {"errGuestLimit", errGuestLimit},
		{"errFileName", errFileName}, {"errFileMissing", errFileMissing}, {"errNotAFile", errNotAFile}, {"errFileTooBig", errFileTooBig},
		{"errNotText", errNotText}, {"errHomeFull", errHomeFull}, {"errShellEnded", errShellEnded}, {"errNoEditor", errNoEditor},
		{"errExamNotRunning", errExamNotRunning}, {"errReviewNotYet", errReviewNotYet}, {"errBadMark", errBadMark},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !sentence.MatchString(tt.err.message) {
				t.Errorf("%s = %q: want a capitalised sentence ending with a period", tt.name, tt.err.message)
			}
			if tt.err.status < 400 {
				t.Errorf("%s has status %d, want an error status", tt.name, tt.err.status)
			}
		})
	}
}

// TestDomainStatus: every sentinel error of the domain packages, wrapped as
// handlers wrap them, maps to its status and sentence.
func TestDomainStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err        error
		wantStatus int
		wantMsg    string
	}{
		{labs.ErrNotFound, http.StatusNotFound, errNotFound.message},
		{sandbox.ErrNotFound, http.StatusNotFound, errNotFound.message},
		{grader.ErrUnknownTask, http.StatusNotFound, errNotFound.message},
		{sandbox.ErrExtendLimit, http.StatusConflict, errExtendLimit.message},
		{sandbox.ErrNotReady, http.StatusConflict, errSandboxNotReady.message},
		{sandbox.ErrCapacity, http.StatusConflict, errLabLimit.message},
		{sandbox.ErrGuestCapacity, http.StatusServiceUnavailable, errGuestLimit.message},
		// Internal conditions: a 500 that names nothing.
		{sandbox.ErrStale, http.StatusInternalServerError, errInternal.message},
		{store.ErrConflict, http.StatusInternalServerError, errInternal.message},
		{store.ErrDirtySchema, http.StatusInternalServerError, errInternal.message},
		{errors.New("dial tcp 10.0.0.7:5432: connection refused"), http.StatusInternalServerError, errInternal.message},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			status, msg := domainStatus(fmt.Errorf("start session s1: %w", tt.err))
			if status != tt.wantStatus || msg != tt.wantMsg {
				t.Errorf("domainStatus(%v) = %d %q, want %d %q", tt.err, status, msg, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

// TestHandleError: the answer to every kind of error, as JSON for the API
// and as the error page for a page, with the request id and no detail.
func TestHandleError(t *testing.T) {
	t.Parallel()
	cat, err := labs.Load(os.DirFS("../labs/testdata/good"), labs.Options{})
	if err != nil {
		t.Fatalf("load test chapters: %v", err)
	}
	s := &Server{catalog: cat, log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: func() string { return "rid-1" }}))
	e.Use(middleware.BodyLimit("1K"))
	s.pageRoutes(e)
	var failWith error
	fail := func(echo.Context) error { return failWith }
	e.GET("/api/v1/fail", fail)
	e.POST("/api/v1/fail", fail)
	e.GET("/fail", fail)

	const secret = "password=hunter2 at 10.0.0.7"
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		err        error
		wantStatus int
		wantMsg    string
	}{
		{name: "handler sentence", method: "GET", path: "/api/v1/fail", err: errBadLogin, wantStatus: 401, wantMsg: errBadLogin.message},
		{name: "wrapped store not found", method: "GET", path: "/api/v1/fail", err: fmt.Errorf("get user: %w", store.ErrNotFound),
			wantStatus: 404, wantMsg: errNotFound.message},
		{name: "canceled", method: "GET", path: "/api/v1/fail", err: fmt.Errorf("query: %w", context.Canceled), wantStatus: 499, wantMsg: errCanceled.message},
		{name: "domain", method: "GET", path: "/api/v1/fail", err: fmt.Errorf("extend: %w", sandbox.ErrExtendLimit),
			wantStatus: 409, wantMsg: errExtendLimit.message},
		{name: "internal", method: "GET", path: "/api/v1/fail", err: errors.New(secret), wantStatus: 500, wantMsg: errInternal.message},
		{name: "echo 5xx", method: "GET", path: "/api/v1/fail", err: echo.NewHTTPError(http.StatusBadGateway, secret),
			wantStatus: 502, wantMsg: errInternal.message},
		{name: "echo 4xx", method: "GET", path: "/api/v1/fail", err: echo.NewHTTPError(http.StatusTeapot, secret),
			wantStatus: 418, wantMsg: refusedMessage},
		{name: "no route", method: "GET", path: "/api/v1/nowhere", wantStatus: 404, wantMsg: errNotFound.message},
		{name: "no route for the method", method: "DELETE", path: "/api/v1/fail", wantStatus: 404, wantMsg: errNotFound.message},
		{name: "body too large", method: "POST", path: "/api/v1/fail", body: strings.Repeat("x", 2048), err: errBadLogin,
			wantStatus: 413, wantMsg: errTooLarge.message},
		{name: "page: internal", method: "GET", path: "/fail", err: errors.New(secret), wantStatus: 500, wantMsg: errInternal.message},
		{name: "page: not found", method: "GET", path: "/no/such/page", wantStatus: 404, wantMsg: errNotFound.message},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: failWith is shared.
			failWith = tt.err
			req := httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			body := rec.Body.String()
			if strings.Contains(body, "hunter2") {
				t.Errorf("the answer shows the error's detail: %s", body)
			}
			if strings.HasPrefix(tt.path, "/api/") {
				var got apiError
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("decode %q: %v", body, err)
				}
				if diff := cmp.Diff(apiError{Error: tt.wantMsg, RequestID: "rid-1"}, got); diff != "" {
					t.Errorf("JSON error (-want +got):\n%s", diff)
				}
				return
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q, want the HTML error page", rec.Header().Get("Content-Type"))
			}
			for _, want := range []string{tt.wantMsg, "<code>rid-1</code>"} {
				if !strings.Contains(body, want) {
					t.Errorf("error page lacks %q", want)
				}
			}
			checkCSPSafe(t, tt.path, rec.Body.Bytes())
		})
	}
}
