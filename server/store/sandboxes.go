package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubelab/kubelab/sandbox"
)

// Store satisfies the sandbox manager's consumer-side interface.
var _ sandbox.Store = (*Store)(nil)

const sandboxCols = `id, owner, chapter, size, extra, status, reason, backend, sandbox_id,
    namespace, namespaces, simulated, created_at, ready_at, expires_at, active_at`

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func sandboxArgs(r sandbox.Record) []any {
	extra := r.Extra
	if extra == nil {
		extra = []string{}
	}
	ns := r.Namespaces
	if ns == nil {
		ns = map[string]string{}
	}
	return []any{r.ID, r.Owner, r.Chapter, r.Size, extra, r.Status, r.Reason, r.Backend, r.SandboxID,
		r.Namespace, ns, r.Simulated, r.CreatedAt, nullTime(r.ReadyAt), r.ExpiresAt, r.ActiveAt}
}

// InsertSandboxSession stores a new session. A second live session of the
// same owner and chapter is ErrConflict.
func (s *Store) InsertSandboxSession(ctx context.Context, r sandbox.Record) error {
	_, err := s.db.Exec(ctx, `INSERT INTO sandbox_sessions (`+sandboxCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, sandboxArgs(r)...)
	if err != nil {
		return fmt.Errorf("insert sandbox session %s: %w", r.ID, mapErr(err))
	}
	return nil
}

// UpdateSandboxSession overwrites a session's row (ErrNotFound if missing).
func (s *Store) UpdateSandboxSession(ctx context.Context, r sandbox.Record) error {
	tag, err := s.db.Exec(ctx, `UPDATE sandbox_sessions SET owner = $2, chapter = $3, size = $4, extra = $5,
    status = $6, reason = $7, backend = $8, sandbox_id = $9, namespace = $10, namespaces = $11,
    simulated = $12, created_at = $13, ready_at = $14, expires_at = $15, active_at = $16, updated_at = now()
WHERE id = $1`, sandboxArgs(r)...)
	if err != nil {
		return fmt.Errorf("update sandbox session %s: %w", r.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update sandbox session %s: %w", r.ID, sandbox.ErrNotFound)
	}
	return nil
}

func scanSandbox(row pgx.Row) (sandbox.Record, error) {
	var r sandbox.Record
	var ready *time.Time
	err := row.Scan(&r.ID, &r.Owner, &r.Chapter, &r.Size, &r.Extra, &r.Status, &r.Reason, &r.Backend,
		&r.SandboxID, &r.Namespace, &r.Namespaces, &r.Simulated, &r.CreatedAt, &ready, &r.ExpiresAt, &r.ActiveAt)
	if ready != nil {
		r.ReadyAt = *ready
	}
	if len(r.Extra) == 0 {
		r.Extra = nil
	}
	if len(r.Namespaces) == 0 {
		r.Namespaces = nil
	}
	return r, err
}

// GetSandboxSession returns a session by id; a missing one wraps both
// sandbox.ErrNotFound and ErrNotFound.
func (s *Store) GetSandboxSession(ctx context.Context, id string) (sandbox.Record, error) {
	r, err := scanSandbox(s.db.QueryRow(ctx, `SELECT `+sandboxCols+` FROM sandbox_sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return sandbox.Record{}, fmt.Errorf("sandbox session %s: %w: %w", id, sandbox.ErrNotFound, ErrNotFound)
	}
	if err != nil {
		return sandbox.Record{}, fmt.Errorf("get sandbox session %s: %w", id, err)
	}
	return r, nil
}

// ListSandboxSessions returns the sessions f selects, oldest first.
func (s *Store) ListSandboxSessions(ctx context.Context, f sandbox.Filter) ([]sandbox.Record, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sandboxCols+` FROM sandbox_sessions
WHERE ($1 = '' OR owner = $1) AND ($2 = '' OR chapter = $2) AND (coalesce(cardinality($3::text[]), 0) = 0 OR status = ANY($3))
ORDER BY created_at, id`, f.Owner, f.Chapter, f.Statuses)
	if err != nil {
		return nil, fmt.Errorf("list sandbox sessions: %w", err)
	}
	defer rows.Close()
	var out []sandbox.Record
	for rows.Next() {
		r, err := scanSandbox(rows)
		if err != nil {
			return nil, fmt.Errorf("scan sandbox session: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sandbox sessions: %w", err)
	}
	return out, nil
}
