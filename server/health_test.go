package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/server/store/storetest"
)

// TestReadyz: /readyz tells anyone only "ready" or "not ready"; the log
// gets the detail once per change, not once per probe.
func TestReadyz(t *testing.T) {
	t.Parallel()
	st := storetest.NewDB(t)
	var logs bytes.Buffer
	var clusterErr error // what the cluster's readiness check reports
	s := &Server{store: st, log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		opts: Options{Ready: func(context.Context) error { return clusterErr }}}
	e := echo.New()
	e.GET("/readyz", s.readyz)

	const detail = "dial tcp 10.0.0.7:6443: connect: connection refused"
	steps := []struct {
		name       string
		clusterErr error
		dropSchema bool
		wantStatus int
		wantBody   string
		wantLog    []string // messages logged by this probe
		wantDetail string   // in the log of this probe
	}{
		{name: "ready", wantStatus: 200, wantBody: `{"status":"ready"}`},
		{name: "cluster down", clusterErr: errors.New(detail), wantStatus: 503, wantBody: `{"status":"not ready"}`,
			wantLog: []string{"not ready"}, wantDetail: "connection refused"},
		{name: "cluster still down", clusterErr: errors.New(detail), wantStatus: 503, wantBody: `{"status":"not ready"}`},
		{name: "cluster back", wantStatus: 200, wantBody: `{"status":"ready"}`, wantLog: []string{"ready again"}},
		{name: "still ready", wantStatus: 200, wantBody: `{"status":"ready"}`},
		{name: "database not migrated", dropSchema: true, wantStatus: 503, wantBody: `{"status":"not ready"}`,
			wantLog: []string{"not ready"}, wantDetail: `"failing":"database"`},
		{name: "database and cluster", clusterErr: errors.New(detail), wantStatus: 503, wantBody: `{"status":"not ready"}`,
			wantLog: []string{"not ready"}, wantDetail: `"failing":"database, cluster"`},
	}
	for _, step := range steps {
		// Not parallel: each probe depends on what the previous ones saw.
		t.Run(step.name, func(t *testing.T) {
			clusterErr = step.clusterErr
			if step.dropSchema {
				if err := st.MigrateDown(t.Context(), 0); err != nil {
					t.Fatalf("MigrateDown(0): %v", err)
				}
			}
			logs.Reset()
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/readyz", nil))
			if rec.Code != step.wantStatus || strings.TrimSpace(rec.Body.String()) != step.wantBody {
				t.Errorf("GET /readyz = %d %s, want %d %s", rec.Code, rec.Body, step.wantStatus, step.wantBody)
			}
			logged := logs.String()
			var gotLog []string
			dec := json.NewDecoder(strings.NewReader(logged))
			for dec.More() {
				var rec struct{ Level, Msg string }
				if err := dec.Decode(&rec); err != nil {
					t.Fatalf("decode log %q: %v", logged, err)
				}
				if rec.Level == "ERROR" {
					t.Errorf("logged at error level: %s", logged)
				}
				gotLog = append(gotLog, rec.Msg)
			}
			if diff := cmp.Diff(step.wantLog, gotLog); diff != "" {
				t.Errorf("log (-want +got):\n%s\nlog: %s", diff, logged)
			}
			if !strings.Contains(logged, step.wantDetail) {
				t.Errorf("the log lacks %q: %s", step.wantDetail, logged)
			}
		})
	}
}
