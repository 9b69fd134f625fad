package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TaskResultRow is a user's stored result of one task.
type TaskResultRow struct {
	Task          string
	Passed        bool
	Score         float64
	FirstSeenAt   time.Time  // first time the task was graded for this user
	FirstPassedAt *time.Time // nil until the task first passed; never cleared
	UpdatedAt     time.Time
	ChecksRun     int // how many results were recorded
}

// ChapterProgressRow sums a user's results in one chapter.
type ChapterProgressRow struct {
	Chapter     string
	TasksPassed int
	Tasks       int // tasks with a stored result
	Score       float64
	StartedAt   time.Time  // first result in the chapter
	LastAt      time.Time  // latest result in the chapter
	CompletedAt *time.Time // latest first pass, when every stored task passed
	// Seconds is the time between the first and the latest result: an upper
	// bound of the time spent, good enough for a progress page.
	Seconds int64
}

// RecordTaskResults stores the latest results of a user's tasks in a
// chapter. first_passed_at is set the first time a task passes and kept
// afterwards, even if the task fails again.
func (s *Store) RecordTaskResults(ctx context.Context, userID, chapter string, rows []TaskResultRow) error {
	if len(rows) == 0 {
		return nil
	}
	const q = `
INSERT INTO task_results AS r (user_id, chapter, task, passed, score, first_passed_at)
VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 THEN now() END)
ON CONFLICT (user_id, chapter, task) DO UPDATE SET
    passed = excluded.passed,
    score = excluded.score,
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

// ChapterProgress returns a user's stored results in a chapter, by task id.
func (s *Store) ChapterProgress(ctx context.Context, userID, chapter string) ([]TaskResultRow, error) {
	rows, err := s.db.Query(ctx, `
SELECT task, passed, score, first_seen_at, first_passed_at, updated_at, checks_run
FROM task_results WHERE user_id = $1 AND chapter = $2 ORDER BY task`, userID, chapter)
	if err != nil {
		return nil, fmt.Errorf("progress of %s in %s: %w", userID, chapter, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TaskResultRow, error) {
		var r TaskResultRow
		var score float32
		err := row.Scan(&r.Task, &r.Passed, &score, &r.FirstSeenAt, &r.FirstPassedAt, &r.UpdatedAt, &r.ChecksRun)
		r.Score = float64(score)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("progress of %s in %s: %w", userID, chapter, mapErr(err))
	}
	return out, nil
}

// Progress sums a user's results per chapter, in chapter id order.
func (s *Store) Progress(ctx context.Context, userID string) ([]ChapterProgressRow, error) {
	rows, err := s.db.Query(ctx, `
SELECT chapter, count(*) FILTER (WHERE passed), count(*), COALESCE(sum(score), 0)::float8,
       min(first_seen_at), max(updated_at),
       CASE WHEN bool_and(passed) THEN max(first_passed_at) END,
       extract(epoch FROM max(updated_at) - min(first_seen_at))::bigint
FROM task_results WHERE user_id = $1 GROUP BY chapter ORDER BY chapter`, userID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", userID, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ChapterProgressRow, error) {
		var r ChapterProgressRow
		err := row.Scan(&r.Chapter, &r.TasksPassed, &r.Tasks, &r.Score, &r.StartedAt, &r.LastAt, &r.CompletedAt, &r.Seconds)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", userID, mapErr(err))
	}
	return out, nil
}
