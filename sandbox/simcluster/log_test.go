package simcluster

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestComponentLogLevels: the components' errors reach kubelab's log at
// their level, except benign races (dropped) and errors a sandbox's own
// objects cause (debug only).
func TestComponentLogLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   string
		level slog.Level // kubelab's --log-level
		want  string     // the level logged, "" for nothing
	}{
		{"a platform error stays an error", `pods is forbidden: User "system:serviceaccount:kube-system:replicaset-controller" cannot create resource "pods"`, slog.LevelInfo, "ERROR"},
		{"a race is dropped", "the object has been modified; please apply your changes", slog.LevelInfo, ""},
		{"a learner's quota is not the operator's error", `sync "kl-1/reports-8bc" failed with pods "reports-8bc-78bw6" is forbidden: exceeded quota: kubelab-quota`, slog.LevelInfo, ""},
		{"nor their LimitRange", `pods "db-migrate-jlpdt" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`, slog.LevelInfo, ""},
		{"nor Pod Security", `pods "pi-proxy-6d7" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes`, slog.LevelInfo, ""},
		{"nor an invalid template", `Pod "api-595" is invalid: spec.containers[0].resources.requests: Invalid value: "250m"`, slog.LevelInfo, ""},
		{"shown at debug level", `pods "x" is forbidden: exceeded quota: kubelab-quota`, slog.LevelDebug, "DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			h := minLevel{Handler: slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tt.level}), min: slog.LevelWarn}
			r := slog.NewRecord(time.Now(), slog.LevelError, "Unhandled Error", 0)
			r.AddAttrs(slog.String("err", tt.err))
			if h.Enabled(context.Background(), r.Level) {
				if err := h.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			got := ""
			if line := out.String(); line != "" {
				got = strings.TrimPrefix(strings.Fields(line)[1], "level=")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("level logged (-want +got):\n%s\n%s", diff, out.String())
			}
		})
	}
}
