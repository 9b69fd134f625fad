package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Workshop errors that a join reports.
var (
	ErrWorkshopFull  = errors.New("the workshop is full")
	ErrWorkshopEnded = errors.New("the workshop has ended")
)

// Workshop is an instructor-led event: chapters in order, seats, a time
// window, and the codes learners join it with.
type Workshop struct {
	ID                string
	OwnerID           string
	OwnerName         string // read only
	Title             string
	Chapters          []string
	Seats             int
	StartsAt          *time.Time
	EndsAt            *time.Time
	SessionTTLMinutes int
	JoinCode          string
	Banner            string
	BannerAt          *time.Time
	EndedAt           *time.Time
	CreatedAt         time.Time
	Joined            int // read only: learners who joined
}

// Over reports whether the workshop has ended at now (its labs may still be
// being ended).
func (w Workshop) Over(now time.Time) bool {
	return w.EndedAt != nil || w.EndsAt != nil && !now.Before(*w.EndsAt)
}

const workshopCols = `w.id::text, w.owner_id::text, o.name, w.title, w.chapters, w.seats, w.starts_at, w.ends_at,
w.session_ttl_minutes, w.join_code, w.banner, w.banner_at, w.ended_at, w.created_at,
(SELECT count(*) FROM workshop_learners l WHERE l.workshop_id = w.id)`

const workshopFrom = ` FROM workshops w JOIN users o ON o.id = w.owner_id`

func scanWorkshop(row pgx.Row) (Workshop, error) {
	var w Workshop
	err := row.Scan(&w.ID, &w.OwnerID, &w.OwnerName, &w.Title, &w.Chapters, &w.Seats, &w.StartsAt, &w.EndsAt,
		&w.SessionTTLMinutes, &w.JoinCode, &w.Banner, &w.BannerAt, &w.EndedAt, &w.CreatedAt, &w.Joined)
	return w, mapErr(err)
}

func (s *Store) queryWorkshops(ctx context.Context, where string, args ...any) ([]Workshop, error) {
	rows, err := s.db.Query(ctx, `SELECT `+workshopCols+workshopFrom+` `+where, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Workshop, error) { return scanWorkshop(row) })
	return out, mapErr(err)
}

// CreateWorkshop stores a new workshop; a join code already taken is
// ErrConflict (the caller draws another).
func (s *Store) CreateWorkshop(ctx context.Context, w Workshop) (Workshop, error) {
	if err := checkID(w.OwnerID); err != nil {
		return Workshop{}, fmt.Errorf("create workshop: %w", err)
	}
	var id string
	err := s.db.QueryRow(ctx, `
INSERT INTO workshops (owner_id, title, chapters, seats, starts_at, ends_at, session_ttl_minutes, join_code)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
		w.OwnerID, w.Title, w.Chapters, w.Seats, w.StartsAt, w.EndsAt, w.SessionTTLMinutes, w.JoinCode).Scan(&id)
	if err != nil {
		return Workshop{}, fmt.Errorf("create workshop: %w", mapErr(err))
	}
	return s.Workshop(ctx, id)
}

// Workshop returns a workshop by id.
func (s *Store) Workshop(ctx context.Context, id string) (Workshop, error) {
	if err := checkID(id); err != nil {
		return Workshop{}, fmt.Errorf("workshop %q: %w", id, err)
	}
	w, err := scanWorkshop(s.db.QueryRow(ctx, `SELECT `+workshopCols+workshopFrom+` WHERE w.id = $1`, id))
	if err != nil {
		return Workshop{}, fmt.Errorf("workshop %s: %w", id, err)
	}
	return w, nil
}

// WorkshopsOwnedBy lists an instructor's workshops, newest first; with
// ownerID empty, every workshop (an admin's view).
func (s *Store) WorkshopsOwnedBy(ctx context.Context, ownerID string) ([]Workshop, error) {
	if ownerID == "" {
		ws, err := s.queryWorkshops(ctx, `ORDER BY w.created_at DESC`)
		if err != nil {
			return nil, fmt.Errorf("list workshops: %w", err)
		}
		return ws, nil
	}
	ws, err := s.queryWorkshops(ctx, `WHERE w.owner_id = $1 ORDER BY w.created_at DESC`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list workshops of %s: %w", ownerID, err)
	}
	return ws, nil
}

// WorkshopsOf lists the workshops a learner joined, latest join first.
func (s *Store) WorkshopsOf(ctx context.Context, userID string) ([]Workshop, error) {
	if err := checkID(userID); err != nil {
		return nil, nil
	}
	ws, err := s.queryWorkshops(ctx, `JOIN workshop_learners j ON j.workshop_id = w.id WHERE j.user_id = $1 ORDER BY j.joined_at DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("workshops joined by %s: %w", userID, err)
	}
	return ws, nil
}

// UpdateWorkshop writes a workshop's editable fields. Seats may not drop
// below the learners who joined.
func (s *Store) UpdateWorkshop(ctx context.Context, w Workshop) error {
	tag, err := s.db.Exec(ctx, `
UPDATE workshops SET title = $2, chapters = $3, seats = $4, starts_at = $5, ends_at = $6, session_ttl_minutes = $7
WHERE id = $1 AND $4 >= (SELECT count(*) FROM workshop_learners WHERE workshop_id = $1)`,
		w.ID, w.Title, w.Chapters, w.Seats, w.StartsAt, w.EndsAt, w.SessionTTLMinutes)
	if err != nil {
		return fmt.Errorf("update workshop %s: %w", w.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update workshop %s: fewer seats than learners joined: %w", w.ID, ErrWorkshopFull)
	}
	return nil
}

// DeleteWorkshop removes a workshop, its learners' membership, codes,
// hands and audit. The learners' progress stays theirs.
func (s *Store) DeleteWorkshop(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("delete workshop: %w", err)
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM workshops WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete workshop %s: %w", id, mapErr(err))
	}
	return nil
}

// AddSeatCodes stores the hashes of one-time seat codes.
func (s *Store) AddSeatCodes(ctx context.Context, id string, hashes [][]byte) error {
	b := &pgx.Batch{}
	for _, h := range hashes {
		b.Queue(`INSERT INTO workshop_seat_codes (code_hash, workshop_id) VALUES ($1, $2)`, h, id)
	}
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("add seat codes to %s: %w", id, mapErr(err))
	}
	return nil
}

// JoinWorkshop adds a user to the workshop whose join code is code, or
// whose one-time seat code hashes to seatHash (which it uses up). Joining
// again is no change and uses no seat code. The workshop's row is locked
// so that concurrent joins never pass its seats.
func (s *Store) JoinWorkshop(ctx context.Context, code string, seatHash []byte, userID string) (Workshop, error) {
	if err := checkID(userID); err != nil {
		return Workshop{}, fmt.Errorf("join workshop: %w", err)
	}
	var id string
	err := s.InTx(ctx, func(tx *Store) error {
		var seats int
		var endsAt, endedAt *time.Time
		err := tx.db.QueryRow(ctx, `
SELECT id::text, seats, ends_at, ended_at FROM workshops
WHERE join_code = $1 OR id = (SELECT workshop_id FROM workshop_seat_codes WHERE code_hash = $2)
FOR UPDATE`, code, seatHash).Scan(&id, &seats, &endsAt, &endedAt)
		if err != nil {
			return mapErr(err)
		}
		var member bool
		if err := tx.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workshop_learners WHERE workshop_id = $1 AND user_id = $2)`, id, userID).Scan(&member); err != nil {
			return mapErr(err)
		}
		if member {
			return nil
		}
		if endedAt != nil || endsAt != nil && !time.Now().Before(*endsAt) {
			return ErrWorkshopEnded
		}
		tag, err := tx.db.Exec(ctx, `
INSERT INTO workshop_learners (workshop_id, user_id)
SELECT $1, $2 WHERE (SELECT count(*) FROM workshop_learners WHERE workshop_id = $1) < $3`, id, userID, seats)
		if err != nil {
			return mapErr(err)
		}
		if tag.RowsAffected() == 0 {
			return ErrWorkshopFull
		}
		tag, err = tx.db.Exec(ctx, `
UPDATE workshop_seat_codes SET used_by = $3, used_at = now()
WHERE code_hash = $2 AND workshop_id = $1 AND used_by IS NULL`, id, seatHash, userID)
		if err != nil {
			return mapErr(err)
		}
		var joinedByCode bool
		if err := tx.db.QueryRow(ctx, `SELECT join_code = $2 FROM workshops WHERE id = $1`, id, code).Scan(&joinedByCode); err != nil {
			return mapErr(err)
		}
		if !joinedByCode && tag.RowsAffected() == 0 {
			return fmt.Errorf("the seat code was used already: %w", ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return Workshop{}, fmt.Errorf("join workshop: %w", err)
	}
	return s.Workshop(ctx, id)
}

// WorkshopLearner is a learner who joined a workshop.
type WorkshopLearner struct {
	UserID   string
	Name     string
	Guest    bool
	JoinedAt time.Time
}

// WorkshopLearners lists a workshop's learners in the order they joined.
func (s *Store) WorkshopLearners(ctx context.Context, id string) ([]WorkshopLearner, error) {
	rows, err := s.db.Query(ctx, `
SELECT l.user_id::text, u.name, u.is_guest, l.joined_at
FROM workshop_learners l JOIN users u ON u.id = l.user_id
WHERE l.workshop_id = $1 ORDER BY l.joined_at, u.id`, id)
	if err != nil {
		return nil, fmt.Errorf("learners of workshop %s: %w", id, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WorkshopLearner, error) {
		var l WorkshopLearner
		err := row.Scan(&l.UserID, &l.Name, &l.Guest, &l.JoinedAt)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("learners of workshop %s: %w", id, mapErr(err))
	}
	return out, nil
}

// IsWorkshopLearner reports whether a user joined the workshop.
func (s *Store) IsWorkshopLearner(ctx context.Context, id, userID string) (bool, error) {
	if checkID(id) != nil || checkID(userID) != nil {
		return false, nil
	}
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workshop_learners WHERE workshop_id = $1 AND user_id = $2)`, id, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is %s in workshop %s: %w", userID, id, mapErr(err))
	}
	return ok, nil
}

// UserTaskResult is one learner's stored result of one task.
type UserTaskResult struct {
	UserID string
	TaskResultRow
}

// WorkshopProgress returns the stored results of the workshop's learners
// in the workshop's chapters; with userID set, that learner's only.
func (s *Store) WorkshopProgress(ctx context.Context, id, userID string) ([]UserTaskResult, error) {
	q := `
SELECT r.user_id::text, ` + prefixed("r.", taskResultColumns) + `
FROM task_results r
JOIN workshop_learners l ON l.user_id = r.user_id AND l.workshop_id = $1
JOIN workshops w ON w.id = l.workshop_id AND r.chapter = ANY (w.chapters)
WHERE ($2 = '' OR r.user_id::text = $2)`
	rows, err := s.db.Query(ctx, q, id, userID)
	if err != nil {
		return nil, fmt.Errorf("progress in workshop %s: %w", id, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserTaskResult, error) {
		var r UserTaskResult
		err := row.Scan(&r.UserID, &r.Chapter, &r.Task, &r.Passed, &r.Score, &r.FirstSeenAt, &r.FirstPassedAt, &r.UpdatedAt, &r.ChecksRun, &r.SolutionRevealedAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("progress in workshop %s: %w", id, mapErr(err))
	}
	return out, nil
}

// SetWorkshopBanner sets the message every learner of the workshop sees.
func (s *Store) SetWorkshopBanner(ctx context.Context, id, message string) (time.Time, error) {
	var at time.Time
	err := s.db.QueryRow(ctx, `UPDATE workshops SET banner = $2, banner_at = now() WHERE id = $1 RETURNING banner_at`, id, message).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("set the banner of workshop %s: %w", id, mapErr(err))
	}
	return at, nil
}

// EndWorkshop marks a workshop ended (its learners' labs are being ended)
// unless it was already; ok reports whether this call ended it.
func (s *Store) EndWorkshop(ctx context.Context, id string) (ok bool, err error) {
	tag, err := s.db.Exec(ctx, `UPDATE workshops SET ended_at = now(), ends_at = LEAST(coalesce(ends_at, now()), now()) WHERE id = $1 AND ended_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("end workshop %s: %w", id, mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// DueWorkshops lists workshops past their end whose labs were not ended.
func (s *Store) DueWorkshops(ctx context.Context, now time.Time) ([]Workshop, error) {
	ws, err := s.queryWorkshops(ctx, `WHERE w.ended_at IS NULL AND w.ends_at <= $1`, now)
	if err != nil {
		return nil, fmt.Errorf("due workshops: %w", err)
	}
	return ws, nil
}

// Hand is a learner's raised hand.
type Hand struct {
	UserID       string
	RaisedAt     time.Time
	Chapter      string
	Task         string
	CheckMessage string
	Message      string
	Commands     []string
}

// RaiseHand records (or renews) a learner's raised hand.
func (s *Store) RaiseHand(ctx context.Context, id string, h Hand) (Hand, error) {
	if h.Commands == nil {
		h.Commands = []string{}
	}
	err := s.db.QueryRow(ctx, `
INSERT INTO workshop_hands AS h (workshop_id, user_id, chapter, task, check_message, message, commands)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (workshop_id, user_id) DO UPDATE SET raised_at = now(), chapter = excluded.chapter, task = excluded.task,
    check_message = excluded.check_message, message = excluded.message, commands = excluded.commands
RETURNING raised_at`, id, h.UserID, h.Chapter, h.Task, h.CheckMessage, h.Message, h.Commands).Scan(&h.RaisedAt)
	if err != nil {
		return Hand{}, fmt.Errorf("raise hand of %s in %s: %w", h.UserID, id, mapErr(err))
	}
	return h, nil
}

// LowerHand removes a learner's raised hand; ok is false when none was raised.
func (s *Store) LowerHand(ctx context.Context, id, userID string) (ok bool, err error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM workshop_hands WHERE workshop_id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return false, fmt.Errorf("lower hand of %s in %s: %w", userID, id, mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// Hands lists the raised hands of a workshop (one learner's with userID set).
func (s *Store) Hands(ctx context.Context, id, userID string) ([]Hand, error) {
	rows, err := s.db.Query(ctx, `
SELECT user_id::text, raised_at, chapter, task, check_message, message, commands
FROM workshop_hands WHERE workshop_id = $1 AND ($2 = '' OR user_id::text = $2) ORDER BY raised_at`, id, userID)
	if err != nil {
		return nil, fmt.Errorf("hands in %s: %w", id, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Hand, error) {
		var h Hand
		err := row.Scan(&h.UserID, &h.RaisedAt, &h.Chapter, &h.Task, &h.CheckMessage, &h.Message, &h.Commands)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("hands in %s: %w", id, mapErr(err))
	}
	return out, nil
}

// AuditEntry is something an instructor did to a learner's lab.
type AuditEntry struct {
	At        time.Time
	ActorID   string
	ActorName string
	LearnerID string
	Learner   string
	Action    string
}

// Audit records an instructor's action on a learner's lab or terminal.
func (s *Store) Audit(ctx context.Context, id, actorID, learnerID, action string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO workshop_audit (workshop_id, actor_id, learner_id, action) VALUES ($1, $2, $3, $4)`,
		id, actorID, learnerID, action)
	if err != nil {
		return fmt.Errorf("audit %s in %s: %w", action, id, mapErr(err))
	}
	return nil
}

// AuditLog lists a workshop's audit entries, oldest first.
func (s *Store) AuditLog(ctx context.Context, id string) ([]AuditEntry, error) {
	rows, err := s.db.Query(ctx, `
SELECT a.at, coalesce(a.actor_id::text, ''), coalesce(ua.name, ''), coalesce(a.learner_id::text, ''), coalesce(ul.name, ''), a.action
FROM workshop_audit a LEFT JOIN users ua ON ua.id = a.actor_id LEFT JOIN users ul ON ul.id = a.learner_id
WHERE a.workshop_id = $1 ORDER BY a.id`, id)
	if err != nil {
		return nil, fmt.Errorf("audit of %s: %w", id, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := row.Scan(&e.At, &e.ActorID, &e.ActorName, &e.LearnerID, &e.Learner, &e.Action)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit of %s: %w", id, mapErr(err))
	}
	return out, nil
}

// SetRole makes a user an instructor or a learner (an admin stays one).
func (s *Store) SetRole(ctx context.Context, userID, role string) (User, error) {
	if err := checkID(userID); err != nil {
		return User{}, fmt.Errorf("set role: %w", err)
	}
	if role != RoleInstructor && role != RoleLearner {
		return User{}, fmt.Errorf("set role %q: want %s or %s", role, RoleInstructor, RoleLearner)
	}
	u, err := scanUser(s.db.QueryRow(ctx, `
UPDATE users AS u SET is_instructor = $2 WHERE u.id = $1 AND NOT u.is_guest RETURNING `+userColumns, userID, role == RoleInstructor))
	if err != nil {
		return User{}, fmt.Errorf("set role of %s: %w", userID, mapErr(err))
	}
	return u, nil
}

// SearchUsers lists accounts (not guests) whose email or name contains q,
// at most limit, by email.
func (s *Store) SearchUsers(ctx context.Context, q string, limit int) ([]User, error) {
	rows, err := s.db.Query(ctx, `
SELECT `+userColumns+` FROM users u
WHERE NOT u.is_guest AND (u.email ILIKE '%' || $1 || '%' OR u.name ILIKE '%' || $1 || '%')
ORDER BY u.email LIMIT $2`, escapeLike(q), limit)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("search users: %w", mapErr(err))
	}
	return out, nil
}

// prefixed qualifies each of a comma-separated column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// escapeLike makes q match itself in a LIKE pattern.
func escapeLike(q string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
}

// LiveWorkshops lists the workshops not over at now (scheduled or open).
func (s *Store) LiveWorkshops(ctx context.Context, now time.Time) ([]Workshop, error) {
	ws, err := s.queryWorkshops(ctx, `WHERE w.ended_at IS NULL AND (w.ends_at IS NULL OR w.ends_at > $1) ORDER BY w.starts_at NULLS FIRST`, now)
	if err != nil {
		return nil, fmt.Errorf("live workshops: %w", err)
	}
	return ws, nil
}

// WorkshopStarts counts the workshop's learners who started a lab in the
// chapter since the workshop was made.
func (s *Store) WorkshopStarts(ctx context.Context, id, chapter string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `
SELECT count(DISTINCT l.user_id) FROM workshop_learners l
JOIN workshops w ON w.id = l.workshop_id
JOIN sandbox_sessions ss ON ss.owner = l.user_id::text AND ss.chapter = $2 AND ss.created_at >= w.created_at
WHERE l.workshop_id = $1`, id, chapter).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("starts in workshop %s: %w", id, mapErr(err))
	}
	return n, nil
}
