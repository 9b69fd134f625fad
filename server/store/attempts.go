package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Attempt statuses.
const (
	AttemptProvisioning = "provisioning" // the sandbox is being made; the clock has not started
	AttemptRunning      = "running"      // the clock runs
	AttemptFinished     = "finished"     // graded; the review is there
	AttemptFailed       = "failed"       // the sandbox could not be made; nothing was graded
)

// Attempt is one sitting of a practice exam.
type Attempt struct {
	ID         string
	UserID     string
	Exam       string
	Seed       uint64
	SessionID  string // the sandbox session it runs in
	Status     string
	Reason     string
	CreatedAt  time.Time
	StartedAt  *time.Time
	Deadline   *time.Time
	FinishedAt *time.Time
	Score      float64
	MaxScore   int
	Passed     bool
	Review     json.RawMessage // nil until finished
	Marks      map[string]TaskMark
	// Task is the one bank task a retry holds ("" for a whole attempt);
	// RetryOf the attempt it retries.
	Task    string
	RetryOf string
}

// TaskMark is what the candidate noted on a task during the attempt.
type TaskMark struct {
	Flagged bool   `json:"flagged,omitempty"`
	Note    string `json:"note,omitempty"`
}

const attemptCols = `id, user_id, exam, seed, session_id, status, reason, created_at, started_at, deadline, finished_at, score, max_score, passed, review, marks, task, coalesce(retry_of, '')`

func scanAttempt(row pgx.Row) (Attempt, error) {
	var a Attempt
	var seed int64
	var review, marks []byte
	if err := row.Scan(&a.ID, &a.UserID, &a.Exam, &seed, &a.SessionID, &a.Status, &a.Reason, &a.CreatedAt,
		&a.StartedAt, &a.Deadline, &a.FinishedAt, &a.Score, &a.MaxScore, &a.Passed, &review, &marks, &a.Task, &a.RetryOf); err != nil {
		return Attempt{}, mapErr(err)
	}
	a.Seed = uint64(seed)
	if review != nil {
		a.Review = review
	}
	if err := json.Unmarshal(marks, &a.Marks); err != nil {
		return Attempt{}, fmt.Errorf("attempt %s marks: %w", a.ID, err)
	}
	return a, nil
}

// CreateAttempt stores a new attempt in status provisioning.
func (s *Store) CreateAttempt(ctx context.Context, a Attempt) error {
	if err := checkID(a.UserID); err != nil {
		return fmt.Errorf("create attempt: %w", err)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO exam_attempts (id, user_id, exam, seed, session_id, status, max_score, task, retry_of)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))`,
		a.ID, a.UserID, a.Exam, int64(a.Seed), a.SessionID, AttemptProvisioning, a.MaxScore, a.Task, a.RetryOf)
	if err != nil {
		return fmt.Errorf("create attempt %s: %w", a.ID, mapErr(err))
	}
	return nil
}

// GetAttempt returns an attempt, or ErrNotFound.
func (s *Store) GetAttempt(ctx context.Context, id string) (Attempt, error) {
	a, err := scanAttempt(s.db.QueryRow(ctx, `SELECT `+attemptCols+` FROM exam_attempts WHERE id = $1`, id))
	if err != nil {
		return Attempt{}, fmt.Errorf("get attempt %s: %w", id, err)
	}
	return a, nil
}

// AttemptsOf lists a user's attempts, newest first; exam "" lists all.
func (s *Store) AttemptsOf(ctx context.Context, userID, exam string) ([]Attempt, error) {
	if err := checkID(userID); err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return s.attempts(ctx, `SELECT `+attemptCols+` FROM exam_attempts WHERE user_id = $1 AND ($2 = '' OR exam = $2) ORDER BY created_at DESC, id`, userID, exam)
}

// SetAttemptSession records the sandbox session an attempt runs in.
func (s *Store) SetAttemptSession(ctx context.Context, id, sessionID string) error {
	_, err := s.changeAttempt(ctx, "set attempt session", id,
		`UPDATE exam_attempts SET session_id = $2 WHERE id = $1 RETURNING `+attemptCols, sessionID)
	return err
}

// DueAttempts lists the running attempts whose deadline has passed at now.
func (s *Store) DueAttempts(ctx context.Context, now time.Time) ([]Attempt, error) {
	return s.attempts(ctx, `SELECT `+attemptCols+` FROM exam_attempts WHERE status = 'running' AND deadline <= $1 ORDER BY deadline`, now)
}

// AttemptsIn lists the attempts in status, oldest first.
func (s *Store) AttemptsIn(ctx context.Context, status string) ([]Attempt, error) {
	return s.attempts(ctx, `SELECT `+attemptCols+` FROM exam_attempts WHERE status = $1 ORDER BY created_at`, status)
}

func (s *Store) attempts(ctx context.Context, query string, args ...any) ([]Attempt, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("list attempts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return out, nil
}

// ErrAttemptState means the attempt is not in the state the change needs
// (the clock already started, the attempt already finished).
var ErrAttemptState = errors.New("the attempt is not in that state")

// StartAttemptClock moves a provisioning attempt to running with its
// deadline. Only the first call changes anything.
func (s *Store) StartAttemptClock(ctx context.Context, id string, at, deadline time.Time) (Attempt, error) {
	return s.changeAttempt(ctx, "start attempt", id,
		`UPDATE exam_attempts SET status = 'running', started_at = $2, deadline = $3 WHERE id = $1 AND status = 'provisioning' RETURNING `+attemptCols,
		at, deadline)
}

// FinishAttempt records the final grading of a running (or, failed, a
// provisioning) attempt. Only the first call changes anything: an early
// submit and the deadline watch racing each other grade once.
func (s *Store) FinishAttempt(ctx context.Context, id, status, reason string, score float64, passed bool, review json.RawMessage, at time.Time) (Attempt, error) {
	return s.changeAttempt(ctx, "finish attempt", id,
		`UPDATE exam_attempts SET status = $2, reason = $3, score = $4, passed = $5, review = $6, finished_at = $7
WHERE id = $1 AND status IN ('provisioning', 'running') RETURNING `+attemptCols,
		status, reason, score, passed, []byte(review), at)
}

// SetAttemptDeadline moves a running attempt's deadline (extra time
// granted to a candidate).
func (s *Store) SetAttemptDeadline(ctx context.Context, id string, deadline time.Time) (Attempt, error) {
	return s.changeAttempt(ctx, "set attempt deadline", id,
		`UPDATE exam_attempts SET deadline = $2 WHERE id = $1 AND status = 'running' RETURNING `+attemptCols, deadline)
}

// MarkAttemptTask sets the candidate's flag and note on a task of a
// running attempt.
func (s *Store) MarkAttemptTask(ctx context.Context, id, task string, m TaskMark) (Attempt, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return Attempt{}, fmt.Errorf("mark attempt task: %w", err)
	}
	return s.changeAttempt(ctx, "mark attempt task", id,
		`UPDATE exam_attempts SET marks = jsonb_set(marks, ARRAY[$2::text], $3::jsonb) WHERE id = $1 AND status = 'running' RETURNING `+attemptCols,
		task, b)
}

func (s *Store) changeAttempt(ctx context.Context, op, id, query string, args ...any) (Attempt, error) {
	a, err := scanAttempt(s.db.QueryRow(ctx, query, append([]any{id}, args...)...))
	if errors.Is(err, ErrNotFound) {
		if _, gerr := s.GetAttempt(ctx, id); gerr == nil {
			err = ErrAttemptState
		}
	}
	if err != nil {
		return Attempt{}, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return a, nil
}
