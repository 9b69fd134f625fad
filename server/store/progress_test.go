package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
)

func TestTaskResults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storetest.NewDB(t)
	u, err := s.CreateGuest(ctx, "learner")
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	other, err := s.CreateGuest(ctx, "other")
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}

	steps := []struct {
		chapter string
		rows    []store.TaskResultRow
	}{
		{"pods", []store.TaskResultRow{{Task: "create", Passed: true, Score: 1}, {Task: "labels", Score: 0.5}}},
		{"pods", []store.TaskResultRow{{Task: "create", Score: 0.5}}}, // fails again: first pass is kept
		{"pods", []store.TaskResultRow{{Task: "labels", Passed: true, Score: 2}}},
		{"deployments", []store.TaskResultRow{{Task: "scale", Score: 1.5}}},
	}
	for _, st := range steps {
		if err := s.RecordTaskResults(ctx, u.ID, st.chapter, st.rows); err != nil {
			t.Fatalf("RecordTaskResults(%s): %v", st.chapter, err)
		}
	}
	if err := s.RecordTaskResults(ctx, other.ID, "pods", []store.TaskResultRow{{Task: "create", Passed: true, Score: 1}}); err != nil {
		t.Fatalf("RecordTaskResults(other): %v", err)
	}
	if err := s.RecordTaskResults(ctx, u.ID, "pods", nil); err != nil {
		t.Errorf("RecordTaskResults(nothing): %v", err)
	}

	rows, err := s.ChapterProgress(ctx, u.ID, "pods")
	if err != nil {
		t.Fatalf("ChapterProgress: %v", err)
	}
	ignoreTimes := cmpopts.IgnoreFields(store.TaskResultRow{}, "FirstSeenAt", "FirstPassedAt", "UpdatedAt")
	want := []store.TaskResultRow{
		{Task: "create", Passed: false, Score: 0.5, ChecksRun: 2},
		{Task: "labels", Passed: true, Score: 2, ChecksRun: 2},
	}
	if diff := cmp.Diff(want, rows, ignoreTimes); diff != "" {
		t.Errorf("ChapterProgress (-want +got):\n%s", diff)
	}
	for _, r := range rows {
		if r.FirstPassedAt == nil {
			t.Errorf("task %s: FirstPassedAt is nil, want the time of its first pass", r.Task)
			continue
		}
		if r.FirstPassedAt.Before(r.FirstSeenAt) || r.UpdatedAt.Before(*r.FirstPassedAt) || time.Since(r.UpdatedAt) > time.Minute {
			t.Errorf("task %s: times out of order: seen %v, passed %v, updated %v", r.Task, r.FirstSeenAt, r.FirstPassedAt, r.UpdatedAt)
		}
	}

	progress, err := s.Progress(ctx, u.ID)
	if err != nil {
		t.Fatalf("Progress: %v", err)
	}
	ignoreSums := cmpopts.IgnoreFields(store.ChapterProgressRow{}, "StartedAt", "LastAt", "CompletedAt", "Seconds")
	wantProgress := []store.ChapterProgressRow{
		{Chapter: "deployments", TasksPassed: 0, Tasks: 1, Score: 1.5},
		{Chapter: "pods", TasksPassed: 1, Tasks: 2, Score: 2.5},
	}
	if diff := cmp.Diff(wantProgress, progress, ignoreSums); diff != "" {
		t.Errorf("Progress (-want +got):\n%s", diff)
	}
	if progress[0].CompletedAt != nil {
		t.Errorf("deployments CompletedAt = %v, want nil", progress[0].CompletedAt)
	}

	none, err := s.ChapterProgress(ctx, u.ID, "services")
	if err != nil || len(none) != 0 {
		t.Errorf("ChapterProgress(services) = %v, %v; want none", none, err)
	}
}

func TestTaskResultsUnknownUser(t *testing.T) {
	t.Parallel()
	s := storetest.NewDB(t)
	err := s.RecordTaskResults(t.Context(), "00000000-0000-0000-0000-000000000000", "pods", []store.TaskResultRow{{Task: "a"}})
	// The foreign key keeps progress tied to a real account.
	if err == nil || !strings.Contains(err.Error(), "task_results_user_id_fkey") {
		t.Fatalf("RecordTaskResults for an unknown user: error = %v, want a foreign-key violation", err)
	}
}
