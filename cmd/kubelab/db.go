package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubelab/kubelab/server"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/localpg"
)

// openStore connects to --database-url, or starts the private PostgreSQL
// under the data dir, and applies migrations. close stops what it started.
// pgExited is closed if the private PostgreSQL exits (nil for an external
// database): nothing restarts it, so serve must stop.
func openStore(ctx context.Context, c commonConfig, log *slog.Logger) (st *store.Store, closeFn func(), pgExited <-chan struct{}, err error) {
	dsn := c.DatabaseURL
	stop := func() {}
	if dsn == "" {
		pg, err := localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(c.DataDir, "postgres"), Log: log})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("start private postgresql: %w", err)
		}
		dsn, pgExited = pg.URL(), pg.Exited()
		stop = func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := pg.Stop(sctx); err != nil {
				log.Error("stop private postgresql", "err", err)
			}
		}
	}
	st, err = store.Open(ctx, dsn)
	if err != nil {
		stop()
		return nil, nil, nil, fmt.Errorf("open database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		stop()
		return nil, nil, nil, fmt.Errorf("migrate database: %w", err)
	}
	if err := st.CheckSchema(ctx); err != nil {
		st.Close()
		stop()
		return nil, nil, nil, fmt.Errorf("refusing to serve: %w", err)
	}
	return st, func() { st.Close(); stop() }, pgExited, nil
}

// ensureAdmin creates the admin account on first start. A generated password
// is printed once, to out, and never logged.
func ensureAdmin(ctx context.Context, st *store.Store, email, password string, out io.Writer, log *slog.Logger) error {
	has, err := st.HasAdmin(ctx)
	if err != nil {
		return fmt.Errorf("look for an admin: %w", err)
	}
	if has {
		return nil
	}
	email, err = server.NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("--admin-email: %w", err)
	}
	generated := password == ""
	if generated {
		var b [18]byte
		_, _ = rand.Read(b[:])
		password = base64.RawURLEncoding.EncodeToString(b[:])
	}
	_, err = st.CreateUser(ctx, store.NewUser{Email: email, Name: "Admin", PasswordHash: server.HashPassword(password), Admin: true})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("--admin-email %s belongs to an existing learner account; choose another address", email)
	}
	if err != nil {
		return fmt.Errorf("create admin %s: %w", email, err)
	}
	log.Info("admin account created", "email", email)
	if generated {
		fmt.Fprintf(out, "\n  kubelab admin account: %s\n  password (shown once): %s\n\n", email, password)
	}
	return nil
}

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c commonConfig
	f := newEnvFlags("migrate", getenv)
	c.register(f)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	_, closeFn, _, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	closeFn()
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: kubelab token create --email E [--name N]")
	}
	var name string
	return withUser(ctx, "token create", args[1:], getenv, stdout, stderr,
		func(f *envFlags) { f.StringVar(&name, "name", "cli", "a label to recognise the token by") },
		func(rest []string) error {
			if len(rest) > 0 {
				return errors.New("usage: kubelab token create --email E [--name N]")
			}
			return nil
		},
		func(st *store.Store, u store.User) error {
			token, hash := server.NewToken("kl_")
			if err := st.CreateAPIToken(ctx, u.ID, name, hash); err != nil {
				return fmt.Errorf("create api token: %w", err)
			}
			fmt.Fprintln(stdout, token)
			return nil
		})
}

// userCmd sets an account's role: kubelab user role --email E instructor.
func userCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: kubelab user role [flags] --email E instructor|learner"
	if len(args) == 0 || args[0] != "role" {
		return errors.New(usage)
	}
	var role string
	return withUser(ctx, "user role", args[1:], getenv, stdout, stderr, func(*envFlags) {},
		func(rest []string) error {
			if len(rest) != 1 || rest[0] != store.RoleInstructor && rest[0] != store.RoleLearner {
				return fmt.Errorf("role %q: %s", strings.Join(rest, " "), usage)
			}
			role = rest[0]
			return nil
		},
		func(st *store.Store, u store.User) error {
			if u.Guest {
				return fmt.Errorf("%s is a guest: only accounts take roles", u.Email)
			}
			u, err := st.SetRole(ctx, u.ID, role)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s is now: %s\n", u.Email, u.Role())
			return nil
		})
}

// withUser parses the common flags and --email (plus what more adds),
// checks the arguments after the flags, opens the database and runs fn
// with that account.
func withUser(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer,
	more func(*envFlags), check func(rest []string) error, fn func(*store.Store, store.User) error) error {
	var c commonConfig
	var email string
	f := newEnvFlags(name, getenv)
	c.register(f)
	f.StringVar(&email, "email", "", "the account's email")
	more(f)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if err := check(f.Args()); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	email, err = server.NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("--email: %w", err)
	}
	st, closeFn, _, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer closeFn()
	u, _, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user with email %s", email)
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", email, err)
	}
	return fn(st, u)
}
