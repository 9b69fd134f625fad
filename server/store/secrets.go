package store

import (
	"context"
	"errors"
	"fmt"
)

// Secret returns kubelab's secret called name. The first caller's fresh
// value becomes it; everyone after, in any process on this database, gets
// that one.
func (s *Store) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var value []byte
	// The insert's row is invisible to the same statement's SELECT, so
	// exactly one side of the UNION answers.
	err := s.db.QueryRow(ctx, `
    WITH made AS (
        INSERT INTO server_secrets (name, value) VALUES ($1, $2)
        ON CONFLICT (name) DO NOTHING RETURNING value
    )
    SELECT value FROM made UNION ALL SELECT value FROM server_secrets WHERE name = $1`, name, fresh).Scan(&value)
	if errors.Is(mapErr(err), ErrNotFound) {
		// Another process inserted it after this statement's snapshot was
		// taken (its insert waited for theirs): it is committed now.
		err = s.db.QueryRow(ctx, `SELECT value FROM server_secrets WHERE name = $1`, name).Scan(&value)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, mapErr(err))
	}
	return value, nil
}
