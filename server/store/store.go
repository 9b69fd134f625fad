// Package store owns kubelab's PostgreSQL access: the connection pool, the
// migration runner over the embedded files of package migrations, and the
// queries of every domain (accounts.go, sandboxes.go, progress.go). It is the
// only package that imports pgx.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrNotFound reports that the row asked for does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a unique violation, e.g. a duplicate email.
	ErrConflict = errors.New("conflict")
	// ErrDirtySchema reports a migration that failed half-way; kubelab refuses
	// to serve until an operator repairs the database.
	ErrDirtySchema = errors.New("database schema is dirty")
)

// dbtx is what both the pool and a transaction offer, so every query method
// works inside and outside InTx.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// Store is kubelab's database. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	db   dbtx // the pool, or the transaction inside InTx
}

// defaultMaxConns is the pool's size unless the URL sets pool_max_conns.
// The private PostgreSQL allows 300 connections.
const defaultMaxConns = 32

// Open connects to the database at url (a postgres:// URL or key=value DSN)
// and checks that it answers.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default is one connection per core, four at least: a
		// class of learners then queues behind four commits waiting on
		// the disk (scripts/soak: API p50 1.9 s at 500 sandboxes).
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	s := New(pool)
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New wraps an existing pool. Close closes the pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, db: pool} }

// Close closes the pool. Inside InTx it does nothing.
func (s *Store) Close() {
	if s.db == dbtx(s.pool) {
		s.pool.Close()
	}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// InTx runs fn with a Store whose queries run in one transaction, committed
// when fn returns nil and rolled back otherwise. Nested calls reuse the
// outer transaction.
func (s *Store) InTx(ctx context.Context, fn func(*Store) error) error {
	if _, nested := s.db.(pgx.Tx); nested {
		return fn(s)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if err := fn(&Store{pool: s.pool, db: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", mapErr(err))
	}
	return nil
}

// mapErr turns pgx errors into the package sentinels, keeping the original
// error in the chain.
func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}
