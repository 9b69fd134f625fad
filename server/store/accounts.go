package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// User is an account: a learner or admin with an email and password, or a
// guest (no email) until claimed.
type User struct {
	ID    string // uuid
	Email string // lowercase; empty for guests
	Name  string
	Admin bool
	// Instructor may run workshops (an admin may too).
	Instructor bool
	Guest      bool
	CreatedAt  time.Time
}

// Roles, as Role reports them.
const (
	RoleAdmin      = "admin"
	RoleInstructor = "instructor"
	RoleLearner    = "learner"
)

// Role is the user's strongest role.
func (u User) Role() string {
	switch {
	case u.Admin:
		return RoleAdmin
	case u.Instructor:
		return RoleInstructor
	}
	return RoleLearner
}

// Teaches reports whether the user may run workshops.
func (u User) Teaches() bool { return u.Admin || u.Instructor }

// NewUser is what CreateUser stores. PasswordHash is computed by the caller
// (argon2id in package server); the store never sees passwords.
type NewUser struct {
	Email        string
	Name         string
	PasswordHash string
	Admin        bool
}

// lastSeenGranularity bounds how often a login session's last_seen_at (and an
// API token's last_used_at) is written: at most once a minute per session, so
// that reads stay reads.
const lastSeenGranularity = "1 minute"

const userColumns = `u.id::text, coalesce(u.email, ''), u.name, u.is_admin, u.is_instructor, u.is_guest, u.created_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner, extra ...any) (User, error) {
	var u User
	err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.Admin, &u.Instructor, &u.Guest, &u.CreatedAt}, extra...)...)
	return u, err
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// checkID turns a malformed id into ErrNotFound rather than a SQL error.
func checkID(id string) error {
	if !uuidRE.MatchString(id) {
		return fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return nil
}

func normEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser creates an account with an email. A duplicate email gives
// ErrConflict.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	email := normEmail(nu.Email)
	u, err := scanUser(s.db.QueryRow(ctx, `
INSERT INTO users AS u (email, name, password_hash, is_admin)
VALUES ($1, $2, $3, $4)
RETURNING `+userColumns, email, nu.Name, nu.PasswordHash, nu.Admin))
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", email, mapErr(err))
	}
	return u, nil
}

// CreateGuest creates a guest account: no email, no password.
func (s *Store) CreateGuest(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `
INSERT INTO users AS u (name, is_guest) VALUES ($1, true)
RETURNING `+userColumns, name))
	if err != nil {
		return User{}, fmt.Errorf("create guest: %w", mapErr(err))
	}
	return u, nil
}

// ClaimGuest turns guest userID into a full account with an email and a
// password, keeping its id (and so its progress). In the same transaction
// every credential the guest had is revoked and one new login session
// (tokenHash, until absoluteExpiry) is made: whoever else holds the guest's
// cookie (a shared workshop PC, a planted cookie) does not get the account.
// ErrNotFound when userID is not a guest; ErrConflict when the email is taken.
func (s *Store) ClaimGuest(ctx context.Context, userID, email, name, passwordHash string, tokenHash []byte, absoluteExpiry time.Time) (User, error) {
	if err := checkID(userID); err != nil {
		return User{}, fmt.Errorf("claim guest: %w", err)
	}
	email = normEmail(email)
	var u User
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		u, err = scanUser(tx.db.QueryRow(ctx, `
UPDATE users AS u SET email = $2, name = $3, password_hash = $4, is_guest = false
WHERE id = $1 AND is_guest
RETURNING `+userColumns, userID, email, name, passwordHash))
		if err != nil {
			return mapErr(err)
		}
		if _, err := tx.db.Exec(ctx, `DELETE FROM login_sessions WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("revoke login sessions: %w", err)
		}
		if _, err := tx.db.Exec(ctx, `DELETE FROM api_tokens WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("revoke API tokens: %w", err)
		}
		return tx.CreateLoginSession(ctx, userID, tokenHash, absoluteExpiry)
	})
	if err != nil {
		return User{}, fmt.Errorf("claim guest %s as %s: %w", userID, email, err)
	}
	return u, nil
}

// UserByEmail returns the account with email and its password hash.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, string, error) {
	email = normEmail(email)
	var hash string
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.email = $1`, email), &hash)
	if err != nil {
		return User{}, "", fmt.Errorf("user %s: %w", email, mapErr(err))
	}
	return u, hash, nil
}

// UserByID returns the account with id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	if err := checkID(id); err != nil {
		return User{}, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", id, mapErr(err))
	}
	return u, nil
}

// UpdateUserName sets the display name of user id.
func (s *Store) UpdateUserName(ctx context.Context, id, name string) error {
	if err := checkID(id); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `UPDATE users SET name = $2 WHERE id = $1`, id, name)
	if err != nil {
		return fmt.Errorf("rename user %s: %w", id, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("rename user %s: %w", id, ErrNotFound)
	}
	return nil
}

// HasAdmin reports whether any admin account exists.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE is_admin)`).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for an admin: %w", err)
	}
	return ok, nil
}

// CreateLoginSession stores a login session for userID under the hash of its
// cookie token, valid until absoluteExpiry at the latest.
func (s *Store) CreateLoginSession(ctx context.Context, userID string, tokenHash []byte, absoluteExpiry time.Time) error {
	if err := checkID(userID); err != nil {
		return fmt.Errorf("create login session: %w", err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO login_sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		tokenHash, userID, absoluteExpiry); err != nil {
		return fmt.Errorf("create login session of %s: %w", userID, mapErr(err))
	}
	return nil
}

// LoginSession returns the user of the login session with tokenHash. It
// gives ErrNotFound when the session does not exist, is past its absolute
// expiry, or was last seen more than idle ago (idle <= 0: no idle limit).
// Otherwise it records the session as seen, at most once a minute.
func (s *Store) LoginSession(ctx context.Context, tokenHash []byte, idle time.Duration) (User, error) {
	idleUS := int64(-1)
	if idle > 0 {
		idleUS = idle.Microseconds()
	}
	u, err := scanUser(s.db.QueryRow(ctx, `
WITH s AS (
    SELECT token_hash, user_id, last_seen_at FROM login_sessions
    WHERE token_hash = $1 AND expires_at > now()
      AND ($2::bigint < 0 OR last_seen_at > now() - $2::bigint * interval '1 microsecond')
), bump AS (
    UPDATE login_sessions l SET last_seen_at = now() FROM s
    WHERE l.token_hash = s.token_hash AND s.last_seen_at < now() - interval '`+lastSeenGranularity+`'
)
SELECT `+userColumns+` FROM s JOIN users u ON u.id = s.user_id`, tokenHash, idleUS))
	if err != nil {
		return User{}, fmt.Errorf("login session: %w", mapErr(err))
	}
	return u, nil
}

// DeleteLoginSession ends the login session with tokenHash (log-out). A
// missing session is not an error.
func (s *Store) DeleteLoginSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM login_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete login session: %w", err)
	}
	return nil
}

// DeleteExpiredLoginSessions removes sessions past their absolute expiry and
// returns how many it removed. Idle sessions are refused by LoginSession and
// removed here once their absolute expiry passes.
func (s *Store) DeleteExpiredLoginSessions(ctx context.Context) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM login_sessions WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("delete expired login sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// CreateAPIToken stores a bearer token of userID under its hash.
func (s *Store) CreateAPIToken(ctx context.Context, userID, name string, tokenHash []byte) error {
	if err := checkID(userID); err != nil {
		return fmt.Errorf("create api token: %w", err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3)`,
		userID, name, tokenHash); err != nil {
		return fmt.Errorf("create api token %q of %s: %w", name, userID, mapErr(err))
	}
	return nil
}

// UserByAPIToken returns the user of the API token with tokenHash and
// records its use (at most once a minute).
func (s *Store) UserByAPIToken(ctx context.Context, tokenHash []byte) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `
WITH t AS (
    SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1
), bump AS (
    UPDATE api_tokens a SET last_used_at = now() FROM t
    WHERE a.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '`+lastSeenGranularity+`')
)
SELECT `+userColumns+` FROM t JOIN users u ON u.id = t.user_id`, tokenHash))
	if err != nil {
		return User{}, fmt.Errorf("api token: %w", mapErr(err))
	}
	return u, nil
}
