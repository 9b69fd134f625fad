// Package storetest gives tests a fresh, migrated PostgreSQL database each:
// NewDB clones a template database that is migrated once per test process
// (and shared across test processes through its name, a hash of the
// migration files). The server is KUBELAB_TEST_DATABASE_URL when set, else a
// private instance (server/store/localpg) started once per test process in
// a temporary directory. Tests that cannot get PostgreSQL fail with the
// reason.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubelab/kubelab/migrations"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/localpg"
)

// EnvURL names the environment variable with the DSN of a PostgreSQL server
// the tests may create databases on (as a role with CREATEDB).
const EnvURL = "KUBELAB_TEST_DATABASE_URL"

// TimeZone is the time zone of every test database: not UTC, so that code
// relying on the server's zone shows up.
const TimeZone = "Pacific/Chatham"

// templateLock serialises template creation across test processes.
const templateLock int64 = 0x6b6c7470 // "kltp"

var (
	once     sync.Once
	baseURL  string // DSN of the server's maintenance database
	template string
	setupErr error
	instance *localpg.Instance
	tmpDir   string
)

// Main runs the tests of a package and stops the private PostgreSQL, if one
// was started, at the end. Use it from TestMain; without it the instance
// ends with the test process (it gets a parent-death signal).
func Main(m *testing.M) {
	code := m.Run()
	if instance != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = instance.Stop(ctx)
		cancel()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// NewDB returns a Store on a new database cloned from the migrated
// template. The database is dropped when the test ends.
func NewDB(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), URL(t))
	if err != nil {
		t.Fatalf("storetest: open test database: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// URL creates a new database cloned from the migrated template and returns
// its DSN. The database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("fast tier (-short): needs PostgreSQL; run without -short")
	}
	once.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("storetest: no PostgreSQL for tests: %v", setupErr)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		t.Fatalf("storetest: connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := "test_" + randHex(8)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template)); err != nil {
		t.Fatalf("storetest: create database from template: %v", err)
	}
	// Per-database settings are not copied from the template.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s SET timezone TO '%s'`, name, TimeZone)); err != nil {
		t.Fatalf("storetest: set time zone: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return withDatabase(baseURL, name)
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	baseURL = os.Getenv(EnvURL)
	if baseURL == "" {
		sweep()
		dir, err := os.MkdirTemp("", tmpPrefix)
		if err != nil {
			return err
		}
		tmpDir = dir
		if err := holdLock(dir); err != nil {
			return err
		}
		in, err := localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(dir, "pg"), Fast: true})
		if err != nil {
			return fmt.Errorf("start private PostgreSQL (or set %s): %w", EnvURL, err)
		}
		instance = in
		baseURL = in.URL()
	}
	sum, err := migrationsHash()
	if err != nil {
		return err
	}
	template = "tpl_" + sum
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(baseURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Several test binaries run at once (go test ./a ./b): the first one
	// builds the template, the others wait for it under this lock.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLock); err != nil {
		return fmt.Errorf("lock template: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLock) //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, template).Scan(&exists); err != nil {
		return fmt.Errorf("look for template: %w", err)
	}
	if exists {
		return nil
	}
	build := template + "_build"
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, build)); err != nil {
		return fmt.Errorf("drop half-built template: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'`, build)); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	st, err := store.Open(ctx, withDatabase(baseURL, build))
	if err != nil {
		return err
	}
	err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	for _, q := range []string{
		fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, build, template),
		fmt.Sprintf(`ALTER DATABASE %s WITH IS_TEMPLATE true`, template),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("finish template: %w", err)
		}
	}
	return nil
}

// tmpPrefix names the temporary directories of private instances.
const tmpPrefix = "kubelab-storetest-"

// holdLock takes an exclusive flock on dir/owner.lock for the rest of the
// process's life: the kernel drops it when the process dies, telling sweep
// that the directory is garbage.
func holdLock(dir string) error {
	f, err := os.Create(filepath.Join(dir, "owner.lock"))
	if err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	// Kept reachable so the finalizer never closes it (closing drops the lock).
	heldLocks = append(heldLocks, f)
	return nil
}

var heldLocks []*os.File

// sweep deletes the directories of private instances of test processes that
// died without Main's cleanup (each holds ~40 MB). A directory is garbage
// when its lock is free, or when it has no lock a minute after creation.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tmpPrefix+"*"))
	for _, d := range dirs {
		f, err := os.Open(filepath.Join(d, "owner.lock"))
		if err != nil {
			if fi, serr := os.Stat(d); serr == nil && time.Since(fi.ModTime()) > time.Minute {
				_ = os.RemoveAll(d)
			}
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(d)
		}
		f.Close()
	}
}

// migrationsHash names the template after the migration files, so a changed
// file gets a new template instead of a stale one.
func migrationsHash() (string, error) {
	var names []string
	if err := fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	}); err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return "", fmt.Errorf("hash migrations: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// withDatabase returns dsn pointing at database name; dsn is a URL or a
// key=value string.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	return dsn + " dbname=" + name // a later key wins
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(unparsable url)"
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s", cfg.Host, cfg.Port, cfg.User, cfg.Database)
}
