package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/server/store"
)

// Workshops ("events" in the API and the pages: the word "event" already
// names a session's server-sent events in this package): an instructor
// makes one with chapters, seats and a time window; learners join it with
// its join code or a one-time seat code; the instructor watches a live
// grid of their tasks (workshop_grid.go) and helps (workshop_help.go).

var (
	errWorkshopFull = errStatus(http.StatusConflict,
		"This event is full: every seat is taken. Ask its instructor for a seat.")
	errWorkshopEnded = errStatus(http.StatusGone,
		"This event has ended. Its results stay with its instructor; the catalog is still open to you.")
	errJoinCode = errStatus(http.StatusNotFound,
		"No event has this code. Check it with your instructor and try again.")
	errJoinTooFast = errStatus(http.StatusTooManyRequests,
		"Too many wrong codes from your address. Wait a minute, then try again.")
	errWorkshopInput = errStatus(http.StatusBadRequest,
		"The event needs a title, at least one chapter of the catalog, between 1 and 1000 seats, an end after its start and a lab lifetime within the allowed one.")
	errSeatsBelowJoined = errStatus(http.StatusConflict,
		"More learners have joined than these seats. Keep at least as many seats as learners.")
	errSeatCodeCount = errStatus(http.StatusBadRequest,
		"Ask for between 1 and the event's seats seat codes at once.")
	errRole = errStatus(http.StatusBadRequest,
		"A role is instructor or learner, for an account (not a guest).")
)

// codeAlphabet has no 0/O or 1/I/L: codes are read off a projector.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newCode is eight letters from codeAlphabet, shown as XXXX-XXXX: 31^8
// (about 10^12) codes, which the join rate limit makes unguessable.
func newCode() string {
	b := make([]byte, 8)
	for i := range b {
		b[i] = codeAlphabet[randIndex(len(codeAlphabet))]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

func randIndex(n int) int {
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < 256-256%n {
			return int(b[0]) % n
		}
	}
}

// normCode reads a code as typed: any case, with or without separators.
func normCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if strings.ContainsRune(codeAlphabet, r) {
			b.WriteRune(r)
		}
	}
	if b.Len() != 8 {
		return ""
	}
	c := b.String()
	return c[:4] + "-" + c[4:]
}

type chapterRefJSON struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type ownerJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type eventJSON struct {
	ID                string           `json:"id"`
	Title             string           `json:"title"`
	Chapters          []chapterRefJSON `json:"chapters"`
	Seats             int              `json:"seats"`
	Joined            int              `json:"joined"`
	StartsAt          *time.Time       `json:"starts_at"`
	EndsAt            *time.Time       `json:"ends_at"`
	SessionTTLMinutes int              `json:"session_ttl_minutes"`
	JoinCode          string           `json:"join_code,omitempty"`
	JoinURL           string           `json:"join_url,omitempty"`
	Owner             ownerJSON        `json:"owner"`
	Status            string           `json:"status"`
	Banner            string           `json:"banner"`
	CreatedAt         time.Time        `json:"created_at"`
	Warm              *warmJSON        `json:"warm,omitempty"` // to its instructor, while labs are warmed for it
}

// Workshop statuses.
const (
	workshopScheduled = "scheduled"
	workshopOpen      = "open"
	workshopEnded     = "ended"
)

func workshopStatus(w store.Workshop, now time.Time) string {
	switch {
	case w.Over(now):
		return workshopEnded
	case w.StartsAt != nil && now.Before(*w.StartsAt):
		return workshopScheduled
	}
	return workshopOpen
}

// toEventJSON answers a workshop; withCodes for its instructor only.
func (s *Server) toEventJSON(c echo.Context, w store.Workshop, withCodes bool) eventJSON {
	out := eventJSON{ID: w.ID, Title: w.Title, Chapters: []chapterRefJSON{}, Seats: w.Seats, Joined: w.Joined,
		StartsAt: w.StartsAt, EndsAt: w.EndsAt, SessionTTLMinutes: w.SessionTTLMinutes,
		Owner: ownerJSON{ID: w.OwnerID, Name: w.OwnerName}, Status: workshopStatus(w, time.Now()),
		Banner: w.Banner, CreatedAt: w.CreatedAt}
	for _, id := range w.Chapters {
		ref := chapterRefJSON{ID: id, Title: id}
		if ch, err := s.Chapter(id); err == nil {
			ref.Title = ch.Title
		}
		out.Chapters = append(out.Chapters, ref)
	}
	if withCodes {
		out.Warm = s.warmOf(w.ID)
		out.JoinCode = w.JoinCode
		out.JoinURL = s.baseURL(c) + "/join/" + w.JoinCode
	}
	return out
}

// baseURL is the address browsers reach kubelab at.
func (s *Server) baseURL(c echo.Context) string {
	if s.public != nil {
		return strings.TrimSuffix(s.public.String(), "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// teacher is the caller when they may run workshops; anyone else gets the
// 404 of a page that is not there.
func teacher(c echo.Context) (*store.User, error) {
	u := userOf(c)
	if u == nil || !u.Teaches() {
		return nil, errNotFound
	}
	return u, nil
}

// ownWorkshop is the workshop of the path when the caller runs it (or is
// an admin): another instructor's workshop is a 404, as a missing one.
func (s *Server) ownWorkshop(c echo.Context) (store.Workshop, *store.User, error) {
	u, err := teacher(c)
	if err != nil {
		return store.Workshop{}, nil, err
	}
	w, err := s.store.Workshop(c.Request().Context(), c.Param("id"))
	if err != nil {
		return store.Workshop{}, nil, err
	}
	if w.OwnerID != u.ID && !u.Admin {
		return store.Workshop{}, nil, errNotFound
	}
	return w, u, nil
}

type workshopInput struct {
	Title             *string    `json:"title"`
	Chapters          []string   `json:"chapters"`
	Seats             *int       `json:"seats"`
	StartsAt          *time.Time `json:"starts_at"`
	EndsAt            *time.Time `json:"ends_at"`
	SessionTTLMinutes *int       `json:"session_ttl_minutes"`
	End               bool       `json:"end"`
}

// apply folds the input into w and checks the result.
func (s *Server) apply(in workshopInput, w *store.Workshop) error {
	if in.Title != nil {
		w.Title = strings.TrimSpace(*in.Title)
	}
	if in.Chapters != nil {
		w.Chapters = in.Chapters
	}
	if in.Seats != nil {
		w.Seats = *in.Seats
	}
	if in.StartsAt != nil {
		w.StartsAt = in.StartsAt
	}
	if in.EndsAt != nil {
		w.EndsAt = in.EndsAt
	}
	if in.SessionTTLMinutes != nil {
		w.SessionTTLMinutes = *in.SessionTTLMinutes
	}
	ok := w.Title != "" && utf8.RuneCountInString(w.Title) <= 200 && len(w.Chapters) > 0 && len(w.Chapters) <= 50 &&
		w.Seats >= 1 && w.Seats <= 1000 && w.SessionTTLMinutes >= 0 &&
		(w.StartsAt == nil || w.EndsAt == nil || w.EndsAt.After(*w.StartsAt))
	if max := s.sandboxes.MaxTTL(); max > 0 && time.Duration(w.SessionTTLMinutes)*time.Minute > max {
		ok = false
	}
	seen := map[string]bool{}
	for _, id := range w.Chapters {
		if _, err := s.Chapter(id); err != nil || seen[id] {
			ok = false
		}
		seen[id] = true
	}
	if !ok {
		return errWorkshopInput
	}
	return nil
}

func (s *Server) createWorkshop(c echo.Context) error {
	u, err := teacher(c)
	if err != nil {
		return err
	}
	var in workshopInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	w := store.Workshop{OwnerID: u.ID}
	if err := s.apply(in, &w); err != nil {
		return err
	}
	for range 5 { // a join code already taken: draw another
		w.JoinCode = newCode()
		var made store.Workshop
		made, err = s.store.CreateWorkshop(c.Request().Context(), w)
		if err == nil {
			s.log.Info("workshop created", "workshop_id", made.ID, "user_id", u.ID, "seats", made.Seats)
			return c.JSON(http.StatusCreated, s.toEventJSON(c, made, true))
		}
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	return err
}

// listWorkshops answers the caller's workshops (an admin's: all) and the
// ones they joined.
func (s *Server) listWorkshops(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	out := struct {
		Events []eventJSON `json:"events"`
		Joined []eventJSON `json:"joined"`
	}{Events: []eventJSON{}, Joined: []eventJSON{}}
	if u.Teaches() {
		owner := u.ID
		if u.Admin {
			owner = ""
		}
		ws, err := s.store.WorkshopsOwnedBy(ctx, owner)
		if err != nil {
			return err
		}
		for _, w := range ws {
			out.Events = append(out.Events, s.toEventJSON(c, w, true))
		}
	}
	joined, err := s.store.WorkshopsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, w := range joined {
		out.Joined = append(out.Joined, s.toEventJSON(c, w, false))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getWorkshop(c echo.Context) error {
	w, _, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toEventJSON(c, w, true))
}

func (s *Server) updateWorkshop(c echo.Context) error {
	w, u, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	var in workshopInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if in.End {
		if err := s.endWorkshop(ctx, w.ID, u.ID); err != nil {
			return err
		}
	} else {
		if err := s.apply(in, &w); err != nil {
			return err
		}
		if err := s.store.UpdateWorkshop(ctx, w); errors.Is(err, store.ErrWorkshopFull) {
			return errSeatsBelowJoined
		} else if err != nil {
			return err
		}
	}
	w, err = s.store.Workshop(ctx, w.ID)
	if err != nil {
		return err
	}
	s.grids.changed(w.ID, "")
	return c.JSON(http.StatusOK, s.toEventJSON(c, w, true))
}

// deleteWorkshop ends the workshop's labs, then removes it.
func (s *Server) deleteWorkshop(c echo.Context) error {
	w, u, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.endWorkshop(ctx, w.ID, u.ID); err != nil {
		return err
	}
	if err := s.store.DeleteWorkshop(ctx, w.ID); err != nil {
		return err
	}
	s.log.Info("workshop deleted", "workshop_id", w.ID, "user_id", u.ID)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) addSeatCodes(c echo.Context) error {
	w, _, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	var in struct {
		Count int `json:"count"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Count < 1 || in.Count > w.Seats {
		return errSeatCodeCount
	}
	codes := make([]string, in.Count)
	hashes := make([][]byte, in.Count)
	for i := range codes {
		codes[i] = newCode()
		hashes[i] = HashToken(codes[i])
	}
	if err := s.store.AddSeatCodes(c.Request().Context(), w.ID, hashes); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string][]string{"codes": codes})
}

// joinWorkshop adds the caller (an account or a guest) to the workshop of
// a code. Wrong codes are rate-limited per address, so that codes cannot
// be guessed.
func (s *Server) joinWorkshop(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ip := c.RealIP()
	if s.wrongCodes.blocked(ip) > 0 {
		return errJoinTooFast
	}
	code := normCode(in.Code)
	if code == "" {
		s.wrongCodes.admit(ip)
		return errJoinCode
	}
	w, err := s.store.JoinWorkshop(c.Request().Context(), code, HashToken(code), u.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.wrongCodes.admit(ip)
		return errJoinCode
	case errors.Is(err, store.ErrWorkshopFull):
		return errWorkshopFull
	case errors.Is(err, store.ErrWorkshopEnded):
		return errWorkshopEnded
	case err != nil:
		return err
	}
	s.log.Info("workshop joined", "workshop_id", w.ID, "user_id", u.ID)
	s.grids.joined(w.ID, u.ID)
	return c.JSON(http.StatusOK, map[string]any{"event": s.toEventJSON(c, w, false), "chapter": w.Chapters[0]})
}

// workshopTTL is the lab lifetime a learner gets in a chapter: the
// workshop's, when they joined an open one that holds the chapter.
func (s *Server) workshopTTL(ctx context.Context, userID, chapter string) time.Duration {
	ws, err := s.store.WorkshopsOf(ctx, userID)
	if err != nil {
		s.log.Warn("workshops of a learner", "user_id", userID, "err", err)
		return 0
	}
	now := time.Now()
	for _, w := range ws {
		if workshopStatus(w, now) == workshopOpen && w.SessionTTLMinutes > 0 && slices.Contains(w.Chapters, chapter) {
			return time.Duration(w.SessionTTLMinutes) * time.Minute
		}
	}
	return 0
}

// endWorkshop marks a workshop ended and ends its learners' labs in its
// chapters (their progress stays).
func (s *Server) endWorkshop(ctx context.Context, id, actorID string) error {
	w, err := s.store.Workshop(ctx, id)
	if err != nil {
		return err
	}
	if _, err := s.store.EndWorkshop(ctx, id); err != nil {
		return err
	}
	learners, err := s.store.WorkshopLearners(ctx, id)
	if err != nil {
		return err
	}
	for _, l := range learners {
		if _, err := s.endLabs(ctx, w, l.UserID); err != nil {
			return err
		}
	}
	s.log.Info("workshop ended", "workshop_id", id, "user_id", actorID, "learners", len(learners))
	return nil
}

// watchWorkshops ends workshops whose time is up and warms the labs of
// those about to start, every few seconds, until the server stops.
func (s *Server) watchWorkshops() {
	s.background.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.life.Done():
				return
			case <-t.C:
			}
			due, err := s.store.DueWorkshops(s.life, time.Now())
			if err != nil {
				if s.life.Err() == nil {
					s.log.Warn("due workshops", "err", err)
				}
				continue
			}
			for _, w := range due {
				if err := s.endWorkshop(s.life, w.ID, ""); err != nil && s.life.Err() == nil {
					s.log.Warn("end a workshop at its time", "workshop_id", w.ID, "err", err)
				}
				s.grids.changed(w.ID, "")
			}
			s.warmWorkshops(s.life)
		}
	})
}

type userRoleJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

func toUserRoleJSON(u store.User) userRoleJSON {
	return userRoleJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role()}
}

// admin is the caller when an admin; anyone else gets a 404.
func admin(c echo.Context) (*store.User, error) {
	u := userOf(c)
	if u == nil || !u.Admin {
		return nil, errNotFound
	}
	return u, nil
}

func (s *Server) searchUsers(c echo.Context) error {
	if _, err := admin(c); err != nil {
		return err
	}
	q := c.QueryParam("q")
	if len(q) > 200 || !utf8.ValidString(q) || strings.ContainsRune(q, 0) {
		q = ""
	}
	users, err := s.store.SearchUsers(c.Request().Context(), q, 100)
	if err != nil {
		return err
	}
	out := make([]userRoleJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toUserRoleJSON(u))
	}
	return c.JSON(http.StatusOK, map[string]any{"users": out})
}

func (s *Server) setRole(c echo.Context) error {
	a, err := admin(c)
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Role != store.RoleInstructor && in.Role != store.RoleLearner {
		return errRole
	}
	u, err := s.store.SetRole(c.Request().Context(), c.Param("id"), in.Role)
	if errors.Is(err, store.ErrNotFound) {
		return errRole
	} else if err != nil {
		return err
	}
	s.log.Info("role set", "user_id", u.ID, "role", in.Role, "admin_id", a.ID)
	return c.JSON(http.StatusOK, toUserRoleJSON(u))
}
