package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/argon2"

	"github.com/kubelab/kubelab/server/store"
)

const (
	sessionCookie     = "kubelab_session"
	minPasswordLength = 10
	maxPasswordLength = 256
	maxNameLength     = 80
	apiTokenPrefix    = "kl_"
)

// Context keys set by authenticate.
const (
	ctxUser   = "kubelab.user"
	ctxBearer = "kubelab.bearer"
)

// NewToken returns a random secret and the hash kubelab stores for it. Only
// the hash is kept, so a database leak does not leak live credentials.
func NewToken(prefix string) (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the stored form of a login-session or API token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// argon2id parameters: OWASP's 2023 recommendation (19 MiB, 2 passes).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an encoded argon2id hash of password.
func HashPassword(password string) string {
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	key := argon2.IDKey([]byte(password), salt[:], argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt[:]), base64.RawStdEncoding.EncodeToString(key))
}

// checkPassword reports whether password matches an encoded argon2id hash.
func checkPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is compared against when an email is unknown, so that the
// response time does not reveal which emails have accounts.
// It is made on first use: computing it costs as much as a login, which
// every run of the kubelab binary (the learner's kubectl too) would pay at
// init.
var dummyHash = sync.OnceValue(func() string { return HashPassword("kubelab-dummy-password") })

// NormalizeEmail trims and lower-cases an address and rejects anything that
// is not a bare address.
func NormalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", errors.New("email is required")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e, "@") || len(e) > 254 {
		return "", fmt.Errorf("%q is not a valid email address", raw)
	}
	return e, nil
}

// validPassword returns the sentence to show when p is not acceptable.
func validPassword(p string) error {
	switch {
	case utf8.RuneCountInString(p) < minPasswordLength:
		return errShortPassword
	case len(p) > maxPasswordLength:
		return errLongPassword
	}
	return nil
}

// cleanName trims a display name, or returns the sentence to show when it is
// not acceptable.
func cleanName(name, fallback string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = fallback
	}
	if utf8.RuneCountInString(name) > maxNameLength ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errBadName
	}
	return name, nil
}

// authenticate resolves the caller from a bearer token or the session
// cookie. It never rejects: handlers that need a user call currentUser.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		if c.Path() == kubeProxyRoute {
			return next(c) // kubeProxy checks the kubeconfig's own proof
		}
		if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				return errBearerFormat
			}
			u, err := s.store.UserByAPIToken(ctx, HashToken(strings.TrimSpace(tok)))
			if errors.Is(err, store.ErrNotFound) {
				return errBadToken
			}
			if err != nil {
				return fmt.Errorf("look up api token: %w", err)
			}
			c.Set(ctxUser, &u)
			c.Set(ctxBearer, true)
			return next(c)
		}
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
			u, err := s.store.LoginSession(ctx, HashToken(ck.Value), s.opts.SessionIdle)
			switch {
			case err == nil:
				c.Set(ctxUser, &u)
			case errors.Is(err, store.ErrNotFound):
				s.clearSessionCookie(c)
			default:
				return fmt.Errorf("look up login session: %w", err)
			}
		}
		return next(c)
	}
}

func viaBearer(c echo.Context) bool { b, _ := c.Get(ctxBearer).(bool); return b }

// userOf returns the authenticated user or nil.
func userOf(c echo.Context) *store.User { u, _ := c.Get(ctxUser).(*store.User); return u }

// The sentences of authentication and account input (see errors.go).
var (
	errUnauthenticated = errStatus(http.StatusUnauthorized, "You are not logged in. Log in and try again.")
	errBearerFormat    = errStatus(http.StatusUnauthorized, "Send the API token in the Authorization header, after the word Bearer.")
	errBadToken        = errStatus(http.StatusUnauthorized, "This API token is not valid. Check it, or create a new one.")
	errNotJSON         = errStatus(http.StatusUnsupportedMediaType, "Send the request body as JSON, with Content-Type: application/json.")
	errMalformedJSON   = errStatus(http.StatusBadRequest, "The request body is not the JSON this request takes. Check its fields and try again.")
	errBadEmail        = errStatus(http.StatusBadRequest, "Enter a valid email address, such as ada@example.com.")
	errShortPassword   = errStatus(http.StatusBadRequest, fmt.Sprintf("Choose a password of at least %d characters.", minPasswordLength))
	errLongPassword    = errStatus(http.StatusBadRequest, fmt.Sprintf("Choose a shorter password: at most %d bytes.", maxPasswordLength))
	errBadName         = errStatus(http.StatusBadRequest, fmt.Sprintf("Choose a name of 1 to %d characters, without control characters.", maxNameLength))
	errEmailTaken      = errStatus(http.StatusConflict, "An account with this email already exists. Log in instead.")
	errBadLogin        = errStatus(http.StatusUnauthorized, "Wrong email or password. Check both and try again.")
	errTooManyLogins   = errStatus(http.StatusTooManyRequests, "Too many failed log-ins. Wait a few minutes, then try again.")
	errTooManyAccounts = errStatus(http.StatusTooManyRequests, "Too many new accounts from here just now. Wait a minute, then try again.")
)

// currentUser returns the authenticated user or a 401.
func currentUser(c echo.Context) (*store.User, error) {
	if u := userOf(c); u != nil {
		return u, nil
	}
	return nil, errUnauthenticated
}

func (s *Server) secureCookies() bool { return s.public != nil && s.public.Scheme == "https" }

// startLoginSession creates a login session for u and sets its cookie.
func (s *Server) startLoginSession(c echo.Context, u store.User) error {
	token, hash, expires := s.newLoginSession()
	if err := s.store.CreateLoginSession(c.Request().Context(), u.ID, hash, expires); err != nil {
		return fmt.Errorf("create login session for %s: %w", u.ID, err)
	}
	s.setSessionCookie(c, u, token, expires)
	return nil
}

// newLoginSession returns a fresh login session's cookie token, the hash the
// store keeps, and its absolute expiry.
func (s *Server) newLoginSession() (token string, hash []byte, expires time.Time) {
	token, hash = NewToken("")
	return token, hash, time.Now().Add(s.opts.SessionAbsolute)
}

func (s *Server) setSessionCookie(c echo.Context, u store.User, token string, expires time.Time) {
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(),
	})
	c.Set(ctxUser, &u)
}

func (s *Server) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(),
	})
}

type credentialsJSON struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
	Role  string `json:"role"` // admin, instructor or learner
	Guest bool   `json:"guest"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Admin: u.Admin, Role: u.Role(), Guest: u.Guest}
}

// bindJSON decodes the request body strictly, with a clear message on bad input.
func bindJSON(c echo.Context, v any) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return errNotJSON
	}
	if err := decodeStrict(c.Request().Body, v); err != nil {
		var mbe *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return errTooLarge
		}
		return errMalformedJSON
	}
	return nil
}

// validateCredentials checks and normalises sign-up input.
func validateCredentials(in credentialsJSON) (email, name string, err error) {
	email, err = NormalizeEmail(in.Email)
	if err != nil {
		return "", "", errBadEmail
	}
	if err := validPassword(in.Password); err != nil {
		return "", "", err
	}
	name, err = cleanName(in.Name, strings.SplitN(email, "@", 2)[0])
	if err != nil {
		return "", "", err
	}
	return email, name, nil
}

// admitAnonymous applies the entry limits to a request that creates an
// account (sign-up, guest), answering 429 with Retry-After when over.
func (s *Server) admitAnonymous(c echo.Context) error {
	if wait := s.entries.admit(c.RealIP()); wait > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return errTooManyAccounts
	}
	return nil
}

func (s *Server) signup(c echo.Context) error {
	var in credentialsJSON
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	email, name, err := validateCredentials(in)
	if err != nil {
		return err
	}
	// The limit also bounds how fast anyone can learn which emails have
	// accounts from the 409 below.
	if err := s.admitAnonymous(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	hash, err := s.passwords.hash(ctx, in.Password)
	if err != nil {
		return fmt.Errorf("hash password of %s: %w", email, err)
	}
	var u store.User
	if cur := userOf(c); cur != nil && cur.Guest {
		// A guest who signs up keeps their progress: claim the guest
		// account. Its old cookies die; this request gets a fresh one.
		token, tokenHash, expires := s.newLoginSession()
		if u, err = s.store.ClaimGuest(ctx, cur.ID, email, name, hash, tokenHash, expires); err == nil {
			s.setSessionCookie(c, u, token, expires)
			return c.JSON(http.StatusCreated, toUserJSON(u))
		}
	} else {
		u, err = s.store.CreateUser(ctx, store.NewUser{Email: email, Name: name, PasswordHash: hash})
	}
	if errors.Is(err, store.ErrConflict) {
		return errEmailTaken
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", email, err)
	}
	if err := s.startLoginSession(c, u); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toUserJSON(u))
}

func (s *Server) login(c echo.Context) error {
	var in credentialsJSON
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return errBadEmail
	}
	attempt := loginAttempt{email: email, ip: c.RealIP()}
	if ck, err := c.Cookie(deviceCookie); err == nil {
		attempt.device = s.limits.device(email, ck.Value)
	}
	if wait := s.limits.blocked(attempt); wait > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return errTooManyLogins
	}
	ctx := c.Request().Context()
	u, hash, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash = dummyHash() // the same work, so timing does not tell
	case err != nil:
		return fmt.Errorf("look up user %s: %w", email, err)
	}
	ok, err := s.passwords.check(ctx, hash, in.Password)
	if err != nil {
		return fmt.Errorf("check password of %s: %w", email, err)
	}
	if !ok || u.ID == "" {
		s.limits.fail(attempt)
		return errBadLogin
	}
	s.limits.succeed(attempt)
	if attempt.device == "" {
		c.SetCookie(&http.Cookie{
			Name: deviceCookie, Value: s.limits.newDevice(email), Path: "/api/v1/auth/login",
			MaxAge: int(deviceLifetime.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookies(),
		})
	}
	if err := s.startLoginSession(c, u); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserJSON(u))
}

func (s *Server) logout(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.store.DeleteLoginSession(c.Request().Context(), HashToken(ck.Value)); err != nil {
			return fmt.Errorf("delete login session: %w", err)
		}
	}
	s.clearSessionCookie(c)
	return c.NoContent(http.StatusNoContent)
}

type guestJSON struct {
	Name string `json:"name"`
}

func (s *Server) guest(c echo.Context) error {
	var in guestJSON
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &in); err != nil {
			return err
		}
	}
	name, err := cleanName(in.Name, "Guest")
	if err != nil {
		return err
	}
	if err := s.admitAnonymous(c); err != nil {
		return err
	}
	u, err := s.store.CreateGuest(c.Request().Context(), name)
	if err != nil {
		return fmt.Errorf("create guest: %w", err)
	}
	if err := s.startLoginSession(c, u); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toUserJSON(u))
}

func (s *Server) me(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserJSON(*u))
}

type accountJSON struct {
	Name string `json:"name"`
}

func (s *Server) updateMe(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var in accountJSON
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	name, err := cleanName(in.Name, "")
	if err != nil || name == "" {
		return errBadName
	}
	if err := s.store.UpdateUserName(c.Request().Context(), u.ID, name); err != nil {
		return fmt.Errorf("update name of %s: %w", u.ID, err)
	}
	u.Name = name
	return c.JSON(http.StatusOK, toUserJSON(*u))
}
