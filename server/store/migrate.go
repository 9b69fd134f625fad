package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kubelab/kubelab/migrations"
)

// migrationLock is the pg_advisory_lock key that serialises migrations of
// concurrent kubelab processes on one database ("kubelab" in ASCII).
const migrationLock int64 = 0x6b7562656c6162

var migrationName = regexp.MustCompile(`^(\d{6})_([a-z0-9_]+)\.(up|down)\.sql$`)

// Migration is one numbered schema version with its two files.
type Migration struct {
	Version int
	Name    string
	Up      string // SQL text
	Down    string
}

// Migrations lists the embedded migrations in version order; it fails when a
// version lacks its up or down file or a file name is malformed.
func Migrations() ([]Migration, error) { return loadMigrations(migrations.FS) }

func loadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name is not NNNNNN_name.up.sql or .down.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		mg := byVersion[v]
		if mg == nil {
			mg = &Migration{Version: v, Name: m[2]}
			byVersion[v] = mg
		}
		if mg.Name != m[2] {
			return nil, fmt.Errorf("migration %06d has two names: %s and %s", v, mg.Name, m[2])
		}
		if m[3] == "up" {
			mg.Up = string(body)
		} else {
			mg.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migration %06d_%s needs both an .up.sql and a .down.sql file", m.Version, m.Name)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// LatestVersion is the highest embedded migration version.
func LatestVersion() (int, error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	if len(ms) == 0 {
		return 0, nil
	}
	return ms[len(ms)-1].Version, nil
}

// Migrate applies every embedded migration newer than the database's
// version, each file in its own transaction, under an advisory lock so that
// concurrent processes migrate once.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	return s.withMigrationLock(ctx, func(conn *pgx.Conn) error {
		cur, dirty, err := schemaVersion(ctx, conn)
		if err != nil {
			return err
		}
		if dirty {
			return fmt.Errorf("%w at version %d: repair it by hand, then fix schema_migrations", ErrDirtySchema, cur)
		}
		for _, m := range ms {
			if m.Version <= cur {
				continue
			}
			if err := applyMigration(ctx, conn, m, "up", m.Up, m.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

// MigrateDown rolls the schema back to version to (0 = empty), running the
// down files newest first. Meant for tests and manual rollbacks.
func (s *Store) MigrateDown(ctx context.Context, to int) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	return s.withMigrationLock(ctx, func(conn *pgx.Conn) error {
		cur, dirty, err := schemaVersion(ctx, conn)
		if err != nil {
			return err
		}
		if dirty {
			return fmt.Errorf("%w at version %d", ErrDirtySchema, cur)
		}
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			if m.Version > cur || m.Version <= to {
				continue
			}
			prev := 0
			if i > 0 {
				prev = ms[i-1].Version
			}
			if err := applyMigration(ctx, conn, m, "down", m.Down, prev); err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckSchema fails when the schema is dirty or not at the latest embedded
// version; kubelab refuses to serve then.
func (s *Store) CheckSchema(ctx context.Context) error {
	latest, err := LatestVersion()
	if err != nil {
		return err
	}
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	var v int64
	var dirty bool
	if exists {
		err := s.db.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read schema version: %w", err)
		}
	}
	if dirty {
		return fmt.Errorf("%w at version %d", ErrDirtySchema, v)
	}
	if int(v) != latest {
		return fmt.Errorf("database schema is at version %d, want %d", v, latest)
	}
	return nil
}

// SchemaVersion reports the database's schema version and dirty flag.
func (s *Store) SchemaVersion(ctx context.Context) (version int, dirty bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if err := ensureSchemaTable(ctx, conn.Conn()); err != nil {
		return 0, false, err
	}
	return schemaVersion(ctx, conn.Conn())
}

func (s *Store) withMigrationLock(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the lock dies with the session anyway
	if err := ensureSchemaTable(ctx, conn.Conn()); err != nil {
		return err
	}
	return fn(conn.Conn())
}

func ensureSchemaTable(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL, dirty boolean NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

func schemaVersion(ctx context.Context, conn *pgx.Conn) (int, bool, error) {
	var v int64
	var dirty bool
	err := conn.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read schema version: %w", err)
	}
	return int(v), dirty, nil
}

// applyMigration runs one file and the version bump in one transaction, so a
// failure leaves the schema at its previous version. A failure of the SQL
// itself (not a lost connection) marks version m dirty: the file is broken
// and an operator must look before kubelab serves again.
func applyMigration(ctx context.Context, conn *pgx.Conn, m Migration, dir, sql string, newVersion int) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
		return writeVersion(ctx, tx, newVersion, false)
	})
	if err == nil {
		return nil
	}
	err = fmt.Errorf("migration %06d_%s.%s.sql: %w", m.Version, m.Name, dir, err)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if werr := writeVersion(context.WithoutCancel(ctx), conn, m.Version, true); werr != nil {
			return fmt.Errorf("%w (and marking the schema dirty: %v)", err, werr)
		}
	}
	return err
}

func writeVersion(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, v int, dirty bool) error {
	if _, err := q.Exec(ctx, `DELETE FROM schema_migrations`); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, dirty) VALUES ($1, $2)`, v, dirty); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}
