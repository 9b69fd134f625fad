package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
)

// TestRecordTaskResultsNeverLowers: whatever the grader reports later, a
// stored task keeps its pass and its best score.
func TestRecordTaskResultsNeverLowers(t *testing.T) {
	t.Parallel()
	type result struct {
		passed bool
		score  float64
	}
	tests := []struct {
		name       string
		results    []result // in the order the grader reports them
		wantPassed bool
		wantScore  float64
	}{
		{name: "partial score goes down", results: []result{{false, 1.33}, {false, 0.67}}, wantScore: 1.33},
		{name: "partial score goes up", results: []result{{false, 0.67}, {false, 1.33}}, wantScore: 1.33},
		{name: "passed then failed", results: []result{{true, 2}, {false, 0}}, wantPassed: true, wantScore: 2},
		{name: "failed, passed, failed", results: []result{{false, 0.5}, {true, 2}, {false, 1}}, wantPassed: true, wantScore: 2},
		{name: "zero points only", results: []result{{false, 0}, {false, 0}}, wantScore: 0},
		{name: "one result", results: []result{{false, 0.25}}, wantScore: 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := storetest.NewDB(t)
			u, err := s.CreateGuest(ctx, "learner")
			if err != nil {
				t.Fatalf("CreateGuest: %v", err)
			}
			for _, r := range tt.results {
				if err := s.RecordTaskResults(ctx, u.ID, "pods", []store.TaskResultRow{{Task: "t", Passed: r.passed, Score: r.score}}); err != nil {
					t.Fatalf("RecordTaskResults(%+v): %v", r, err)
				}
			}
			rows, err := s.ChapterProgress(ctx, u.ID, "pods")
			if err != nil {
				t.Fatalf("ChapterProgress: %v", err)
			}
			want := []store.TaskResultRow{{Chapter: "pods", Task: "t", Passed: tt.wantPassed, Score: tt.wantScore, ChecksRun: len(tt.results)}}
			if diff := cmp.Diff(want, rows, cmpopts.IgnoreFields(store.TaskResultRow{}, "FirstSeenAt", "FirstPassedAt", "UpdatedAt")); diff != "" {
				t.Errorf("stored result (-want +got):\n%s", diff)
			}
			if got := rows[0].FirstPassedAt != nil; got != tt.wantPassed {
				t.Errorf("FirstPassedAt set = %v, want %v", got, tt.wantPassed)
			}
		})
	}
}

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
		{"pods", []store.TaskResultRow{{Task: "create", Score: 0.5}}}, // fails again: the pass is kept
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
	wantPods := []store.TaskResultRow{
		{Chapter: "pods", Task: "create", Passed: true, Score: 1, ChecksRun: 2},
		{Chapter: "pods", Task: "labels", Passed: true, Score: 2, ChecksRun: 2},
	}
	if diff := cmp.Diff(wantPods, rows, ignoreTimes); diff != "" {
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

	all, err := s.Progress(ctx, u.ID)
	if err != nil {
		t.Fatalf("Progress: %v", err)
	}
	wantAll := append([]store.TaskResultRow{{Chapter: "deployments", Task: "scale", Score: 1.5, ChecksRun: 1}}, wantPods...)
	if diff := cmp.Diff(wantAll, all, ignoreTimes); diff != "" {
		t.Errorf("Progress (-want +got):\n%s", diff)
	}

	none, err := s.ChapterProgress(ctx, u.ID, "services")
	if err != nil || len(none) != 0 {
		t.Errorf("ChapterProgress(services) = %v, %v; want none", none, err)
	}
}

// TestMigrateBestProgress: rows stored under the latest-result rule count as
// passed once they passed.
func TestMigrateBestProgress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.URL(t)
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.CreateGuest(ctx, "learner")
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	if err := s.MigrateDown(ctx, 3); err != nil {
		t.Fatalf("MigrateDown(3): %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// What version 3 stored for a task that passed and then failed again.
	if _, err := conn.Exec(ctx, `
INSERT INTO task_results (user_id, chapter, task, passed, score, first_passed_at)
VALUES ($1, 'pods', 'again', false, 0.5, now()), ($1, 'pods', 'never', false, 0.25, NULL)`, u.ID); err != nil {
		t.Fatalf("insert version 3 rows: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	rows, err := s.ChapterProgress(ctx, u.ID, "pods")
	if err != nil {
		t.Fatalf("ChapterProgress: %v", err)
	}
	want := []store.TaskResultRow{
		{Chapter: "pods", Task: "again", Passed: true, Score: 0.5, ChecksRun: 1},
		{Chapter: "pods", Task: "never", Score: 0.25, ChecksRun: 1},
	}
	if diff := cmp.Diff(want, rows, cmpopts.IgnoreFields(store.TaskResultRow{}, "FirstSeenAt", "FirstPassedAt", "UpdatedAt")); diff != "" {
		t.Errorf("rows after the migration (-want +got):\n%s", diff)
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
