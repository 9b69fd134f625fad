package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/kubelab/kubelab/sandbox"
)

// Store satisfies the sandbox manager's consumer-side interface.
var _ sandbox.Store = (*Store)(nil)

const sandboxCols = `id, owner, chapter, size, extra, status, reason, backend, sandbox_id,
    namespace, namespaces, simulated, created_at, ready_at, expires_at, active_at, nodes, clusters`

// liveStatuses hold a sandbox (or are about to); queued ones wait for capacity.
var (
	liveStatuses    = []string{sandbox.StatusProvisioning, sandbox.StatusReady}
	pendingStatuses = []string{sandbox.StatusQueued, sandbox.StatusProvisioning, sandbox.StatusReady}
)

// admissionLock serialises admission decisions across every kubelab process
// sharing the database (an advisory lock held until the transaction ends).
const admissionLock = `SELECT pg_advisory_xact_lock(7265746)`

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
	nodes, clusters := r.Nodes, r.Clusters
	if nodes == nil {
		nodes = []string{}
	}
	if clusters == nil {
		clusters = []string{}
	}
	return []any{r.ID, r.Owner, r.Chapter, r.Size, extra, r.Status, r.Reason, r.Backend, r.SandboxID,
		r.Namespace, ns, r.Simulated, r.CreatedAt, nullTime(r.ReadyAt), r.ExpiresAt, r.ActiveAt, nodes, clusters}
}

// InsertSandboxSession stores a new session as it is. A second live session
// of the same owner and chapter is ErrConflict. The manager uses
// StartSandboxSession; this is for tests and imports.
func (s *Store) InsertSandboxSession(ctx context.Context, r sandbox.Record) error {
	_, err := s.db.Exec(ctx, `INSERT INTO sandbox_sessions (`+sandboxCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`, sandboxArgs(r)...)
	if err != nil {
		return fmt.Errorf("insert sandbox session %s: %w", r.ID, mapErr(err))
	}
	return nil
}

// StartSandboxSession implements sandbox.Store.
func (s *Store) StartSandboxSession(ctx context.Context, r sandbox.Record, a sandbox.Admission) (out sandbox.Record, existing bool, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, admissionLock); err != nil {
			return fmt.Errorf("lock admission: %w", err)
		}
		mine, err := tx.ListSandboxSessions(ctx, sandbox.Filter{Owner: r.Owner, Statuses: pendingStatuses})
		if err != nil {
			return err
		}
		for _, m := range mine {
			if m.Chapter == r.Chapter {
				out, existing = m, true
				return nil
			}
		}
		if len(mine) >= a.MaxPerUser {
			return fmt.Errorf("%s holds %d sessions: %w", r.Owner, len(mine), sandbox.ErrCapacity)
		}
		if a.MaxGuests > 0 {
			var guest bool
			var guests int
			if err := tx.db.QueryRow(ctx, `SELECT
    EXISTS (SELECT 1 FROM users WHERE id::text = $1 AND is_guest),
    (SELECT count(*) FROM sandbox_sessions s JOIN users u ON u.id::text = s.owner
     WHERE u.is_guest AND s.status = ANY($2))`, r.Owner, pendingStatuses).Scan(&guest, &guests); err != nil {
				return fmt.Errorf("count guest sessions: %w", err)
			}
			if guest && guests >= a.MaxGuests {
				return fmt.Errorf("guests hold %d sessions: %w", guests, sandbox.ErrGuestCapacity)
			}
		}
		var live int
		if err := tx.db.QueryRow(ctx, `SELECT count(*) FROM sandbox_sessions WHERE status = ANY($1)`, liveStatuses).Scan(&live); err != nil {
			return fmt.Errorf("count live sessions: %w", err)
		}
		if live >= a.MaxTotal {
			r.Status, r.SandboxID = sandbox.StatusQueued, ""
		}
		if err := tx.InsertSandboxSession(ctx, r); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return sandbox.Record{}, false, fmt.Errorf("start sandbox session of %s in %s: %w", r.Owner, r.Chapter, err)
	}
	return out, existing, nil
}

func scanSandbox(row pgx.Row) (sandbox.Record, error) {
	var r sandbox.Record
	var ready *time.Time
	err := row.Scan(&r.ID, &r.Owner, &r.Chapter, &r.Size, &r.Extra, &r.Status, &r.Reason, &r.Backend,
		&r.SandboxID, &r.Namespace, &r.Namespaces, &r.Simulated, &r.CreatedAt, &ready, &r.ExpiresAt, &r.ActiveAt, &r.Nodes, &r.Clusters)
	if ready != nil {
		r.ReadyAt = *ready
	}
	if len(r.Extra) == 0 {
		r.Extra = nil
	}
	if len(r.Namespaces) == 0 {
		r.Namespaces = nil
	}
	if len(r.Nodes) == 0 {
		r.Nodes = nil
	}
	if len(r.Clusters) == 0 {
		r.Clusters = nil
	}
	return r, err
}

// GetSandboxSession returns a session by id; a missing one wraps both
// sandbox.ErrNotFound and ErrNotFound.
func (s *Store) GetSandboxSession(ctx context.Context, id string) (sandbox.Record, error) {
	// The id comes from a URL: PostgreSQL refuses text with a NUL or bytes
	// that are not UTF-8 outright (a 500), and no session has such an id.
	if !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return sandbox.Record{}, fmt.Errorf("sandbox session %q: %w: %w", id, sandbox.ErrNotFound, ErrNotFound)
	}
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
AND (coalesce(cardinality($4::text[]), 0) = 0 OR owner = ANY($4))
ORDER BY created_at, id`, f.Owner, f.Chapter, f.Statuses, f.Owners)
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

// QueuePosition implements sandbox.Store.
func (s *Store) QueuePosition(ctx context.Context, id string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM sandbox_sessions q, sandbox_sessions me
WHERE me.id = $1 AND q.status = 'queued' AND (q.created_at, q.id) <= (me.created_at, me.id)`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue position of %s: %w", id, err)
	}
	return n, nil
}

// change runs one conditional UPDATE … RETURNING; when it matches no row it
// tells a missing session (ErrNotFound) from one that moved on (ErrStale).
func (s *Store) change(ctx context.Context, op, id, query string, args ...any) (sandbox.Record, error) {
	r, err := scanSandbox(s.db.QueryRow(ctx, query, args...))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return sandbox.Record{}, fmt.Errorf("%s %s: %w", op, id, mapErr(err))
	}
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sandbox_sessions WHERE id = $1)`, id).Scan(&exists); err != nil {
		return sandbox.Record{}, fmt.Errorf("%s %s: %w", op, id, err)
	}
	if !exists {
		return sandbox.Record{}, fmt.Errorf("%s %s: %w: %w", op, id, sandbox.ErrNotFound, ErrNotFound)
	}
	return sandbox.Record{}, fmt.Errorf("%s %s: %w", op, id, sandbox.ErrStale)
}

// AdmitQueuedSession implements sandbox.Store.
func (s *Store) AdmitQueuedSession(ctx context.Context, id, sandboxID string, now, expires time.Time, maxTotal int) (out sandbox.Record, admitted bool, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, admissionLock); err != nil {
			return fmt.Errorf("lock admission: %w", err)
		}
		var live int
		if err := tx.db.QueryRow(ctx, `SELECT count(*) FROM sandbox_sessions WHERE status = ANY($1)`, liveStatuses).Scan(&live); err != nil {
			return fmt.Errorf("count live sessions: %w", err)
		}
		if live >= maxTotal {
			return nil
		}
		r, err := tx.change(ctx, "admit sandbox session", id, `UPDATE sandbox_sessions
SET status = 'provisioning', reason = '', sandbox_id = $2, created_at = $3, active_at = $3, expires_at = $4, updated_at = now()
WHERE id = $1 AND status = 'queued' RETURNING `+sandboxCols, id, sandboxID, now, expires)
		if err != nil {
			return err
		}
		out, admitted = r, true
		return nil
	})
	return out, admitted, err
}

// SetSessionReady implements sandbox.Store.
func (s *Store) SetSessionReady(ctx context.Context, id, sandboxID, namespace string, namespaces map[string]string, at time.Time) (sandbox.Record, error) {
	if namespaces == nil {
		namespaces = map[string]string{}
	}
	return s.change(ctx, "mark sandbox session ready", id, `UPDATE sandbox_sessions
SET status = 'ready', reason = '', namespace = $3, namespaces = $4, ready_at = $5, updated_at = now()
WHERE id = $1 AND status = 'provisioning' AND sandbox_id = $2 RETURNING `+sandboxCols, id, sandboxID, namespace, namespaces, at)
}

// FailSession implements sandbox.Store.
func (s *Store) FailSession(ctx context.Context, id, sandboxID string, from []string, reason string) (sandbox.Record, error) {
	return s.change(ctx, "fail sandbox session", id, `UPDATE sandbox_sessions
SET status = 'failed', reason = $4, updated_at = now()
WHERE id = $1 AND sandbox_id = $2 AND status = ANY($3) RETURNING `+sandboxCols, id, sandboxID, from, reason)
}

// ReplaceSessionSandbox implements sandbox.Store.
func (s *Store) ReplaceSessionSandbox(ctx context.Context, id, oldSandboxID, newSandboxID string) (sandbox.Record, error) {
	return s.change(ctx, "replace sandbox of session", id, `UPDATE sandbox_sessions
SET sandbox_id = $3, updated_at = now()
WHERE id = $1 AND status = 'provisioning' AND sandbox_id = $2 RETURNING `+sandboxCols, id, oldSandboxID, newSandboxID)
}

// FinishSandboxSession implements sandbox.Store.
func (s *Store) FinishSandboxSession(ctx context.Context, id, status, reason string, cond sandbox.FinishIf) (sandbox.Record, error) {
	return s.change(ctx, "finish sandbox session", id, `UPDATE sandbox_sessions
SET status = $2, reason = $3, updated_at = now()
WHERE id = $1 AND status = ANY($4)
  AND ($5::timestamptz IS NULL OR expires_at <= $5)
  AND ($6::timestamptz IS NULL OR (status = 'ready' AND active_at <= $6))
RETURNING `+sandboxCols, id, status, reason, pendingStatuses, nullTime(cond.ExpiredBy), nullTime(cond.IdleBefore))
}

// ResetSandboxSession implements sandbox.Store.
func (s *Store) ResetSandboxSession(ctx context.Context, id, newSandboxID string, now time.Time, ttl, maxTTL time.Duration) (sandbox.Record, string, error) {
	var old string
	var out sandbox.Record
	err := s.InTx(ctx, func(tx *Store) error {
		err := tx.db.QueryRow(ctx, `SELECT sandbox_id FROM sandbox_sessions WHERE id = $1 FOR UPDATE`, id).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reset sandbox session %s: %w: %w", id, sandbox.ErrNotFound, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reset sandbox session %s: %w", id, err)
		}
		out, err = tx.change(ctx, "reset sandbox session", id, `UPDATE sandbox_sessions
SET status = 'provisioning', reason = '', sandbox_id = $2, namespace = '', namespaces = '{}', ready_at = NULL,
    expires_at = CASE WHEN expires_at < $3::timestamptz + interval '1 minute'
                      THEN LEAST($3::timestamptz + $4::interval, created_at + $5::interval) ELSE expires_at END,
    active_at = $3, updated_at = now()
WHERE id = $1 AND status = ANY($6) RETURNING `+sandboxCols,
			id, newSandboxID, now, ttl, maxTTL, []string{sandbox.StatusReady, sandbox.StatusProvisioning, sandbox.StatusFailed})
		return err
	})
	if err != nil {
		return sandbox.Record{}, "", err
	}
	return out, old, nil
}

// ExtendSandboxSession implements sandbox.Store.
func (s *Store) ExtendSandboxSession(ctx context.Context, id string, by, maxTTL time.Duration) (sandbox.Record, error) {
	r, err := s.change(ctx, "extend sandbox session", id, `UPDATE sandbox_sessions
SET expires_at = LEAST(expires_at + $2::interval, created_at + $3::interval), updated_at = now()
WHERE id = $1 AND status = ANY($4) AND expires_at < created_at + $3::interval RETURNING `+sandboxCols,
		id, by, maxTTL, liveStatuses)
	if !errors.Is(err, sandbox.ErrStale) {
		return r, err
	}
	cur, gerr := s.GetSandboxSession(ctx, id)
	if gerr != nil {
		return sandbox.Record{}, gerr
	}
	if cur.Status == sandbox.StatusReady || cur.Status == sandbox.StatusProvisioning {
		return sandbox.Record{}, fmt.Errorf("extend sandbox session %s: %w", id, sandbox.ErrExtendLimit)
	}
	return sandbox.Record{}, fmt.Errorf("extend sandbox session %s (%s): %w", id, cur.Status, sandbox.ErrNotFound)
}

// TouchSandboxSession implements sandbox.Store.
func (s *Store) TouchSandboxSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE sandbox_sessions SET active_at = $2
WHERE id = $1 AND status = ANY($3) AND active_at < $2`, id, at, pendingStatuses)
	if err != nil {
		return fmt.Errorf("touch sandbox session %s: %w", id, err)
	}
	return nil
}
