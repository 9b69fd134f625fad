package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TaskResultRow is a user's result of one task. Given to RecordTaskResults
// it is the grader's current result; read back it is the best one so far.
type TaskResultRow struct {
	Chapter       string // set when read; RecordTaskResults takes it as an argument
	Task          string
	Passed        bool       // read back: passed at least once
	Score         float64    // read back: the best score reached
	FirstSeenAt   time.Time  // first time the task was graded for this user
	FirstPassedAt *time.Time // nil until the task first passed; never cleared
	UpdatedAt     time.Time  // latest time the task was graded
	ChecksRun     int        // how many results were recorded
	// SolutionRevealedAt is when the learner first revealed the task's
	// solution; nil if never.
	SolutionRevealedAt *time.Time
}

// RecordTaskResults folds the current results of a user's tasks in a
// chapter into the stored ones. Progress never goes down: a task that passed
// stays passed and the score is the best one reached, because a learner's
// later work (cleaning up, reusing a name) may change the objects an earlier
// task checked.
func (s *Store) RecordTaskResults(ctx context.Context, userID, chapter string, rows []TaskResultRow) error {
	if len(rows) == 0 {
		return nil
	}
	const q = `
INSERT INTO task_results AS r (user_id, chapter, task, passed, score, first_passed_at)
VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 THEN now() END)
ON CONFLICT (user_id, chapter, task) DO UPDATE SET
    passed = r.passed OR excluded.passed,
    score = GREATEST(r.score, excluded.score),
    first_passed_at = COALESCE(r.first_passed_at, excluded.first_passed_at),
    updated_at = now(),
    checks_run = r.checks_run + 1`
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(q, userID, chapter, r.Task, r.Passed, r.Score)
	}
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record task results of %s in %s: %w", userID, chapter, mapErr(err))
	}
	return nil
}

const taskResultColumns = `chapter, task, passed, score, first_seen_at, first_passed_at, updated_at, checks_run, solution_revealed_at`

// RecordSolutionReveal records that the user revealed a task's solution and
// returns when they first did. Revealing again keeps the first time.
func (s *Store) RecordSolutionReveal(ctx context.Context, userID, chapter, task string) (time.Time, error) {
	var at time.Time
	err := s.db.QueryRow(ctx, `
INSERT INTO task_results AS r (user_id, chapter, task, checks_run, solution_revealed_at)
VALUES ($1, $2, $3, 0, now())
ON CONFLICT (user_id, chapter, task) DO UPDATE SET
    solution_revealed_at = COALESCE(r.solution_revealed_at, excluded.solution_revealed_at)
RETURNING solution_revealed_at`, userID, chapter, task).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("record solution reveal of %s in %s/%s: %w", userID, chapter, task, mapErr(err))
	}
	return at, nil
}

// ChapterProgress returns a user's stored results in a chapter, by task id.
func (s *Store) ChapterProgress(ctx context.Context, userID, chapter string) ([]TaskResultRow, error) {
	rows, err := s.queryTaskResults(ctx, `
SELECT `+taskResultColumns+`
FROM task_results WHERE user_id = $1 AND chapter = $2 ORDER BY task`, userID, chapter)
	if err != nil {
		return nil, fmt.Errorf("progress of %s in %s: %w", userID, chapter, err)
	}
	return rows, nil
}

// Progress returns a user's stored results in every chapter, by chapter and
// task id.
func (s *Store) Progress(ctx context.Context, userID string) ([]TaskResultRow, error) {
	rows, err := s.queryTaskResults(ctx, `
SELECT `+taskResultColumns+`
FROM task_results WHERE user_id = $1 ORDER BY chapter, task`, userID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", userID, err)
	}
	return rows, nil
}

func (s *Store) queryTaskResults(ctx context.Context, query string, args ...any) ([]TaskResultRow, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TaskResultRow, error) {
		var r TaskResultRow
		err := row.Scan(&r.Chapter, &r.Task, &r.Passed, &r.Score, &r.FirstSeenAt, &r.FirstPassedAt, &r.UpdatedAt, &r.ChecksRun, &r.SolutionRevealedAt)
		return r, err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}
