package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

type sandboxJSON struct {
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace,omitempty"`
	Namespaces map[string]string `json:"namespaces,omitempty"`
	Simulated  bool              `json:"simulated"`
	ExpiresAt  *time.Time        `json:"expires_at,omitempty"`
}

type sessionJSON struct {
	ID        string      `json:"id"`
	Status    string      `json:"status"`
	Chapter   string      `json:"chapter"`
	Position  int         `json:"position,omitempty"`
	Reason    string      `json:"reason,omitempty"`
	Sandbox   sandboxJSON `json:"sandbox"`
	CreatedAt time.Time   `json:"created_at"`
	ReadyAt   *time.Time  `json:"ready_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toSessionJSON(ss sandbox.Session) sessionJSON {
	return sessionJSON{
		ID: ss.ID, Status: ss.Status, Chapter: ss.Chapter, Position: ss.Position, Reason: ss.Reason,
		Sandbox: sandboxJSON{
			Kind: ss.Backend, Namespace: ss.Namespace, Namespaces: ss.Namespaces,
			Simulated: ss.Simulated, ExpiresAt: timePtr(ss.ExpiresAt),
		},
		CreatedAt: ss.CreatedAt, ReadyAt: timePtr(ss.ReadyAt),
	}
}

// ownedSession loads the session named in the path and checks that the
// caller owns it; the call counts as the learner's activity. Someone else's
// session is a 404, exactly like a missing one.
func (s *Server) ownedSession(c echo.Context) (sandbox.Session, *store.User, error) {
	ss, u, err := s.lookupOwnedSession(c)
	if err == nil {
		s.sandboxes.Touch(c.Request().Context(), ss.ID)
	}
	return ss, u, err
}

// lookupOwnedSession is ownedSession without counting as activity, for
// connections a browser keeps open by itself (the event stream).
func (s *Server) lookupOwnedSession(c echo.Context) (sandbox.Session, *store.User, error) {
	u, err := currentUser(c)
	if err != nil {
		return sandbox.Session{}, nil, err
	}
	ss, err := s.sandboxes.Session(c.Request().Context(), c.Param("id"))
	if errors.Is(err, sandbox.ErrNotFound) {
		return sandbox.Session{}, nil, errNotFound
	}
	if err != nil {
		return sandbox.Session{}, nil, fmt.Errorf("get session %s: %w", c.Param("id"), err)
	}
	if ss.Owner != u.ID {
		return sandbox.Session{}, nil, errNotFound
	}
	return ss, u, nil
}

func (s *Server) chapter(c echo.Context) (*labs.Chapter, error) {
	ch, err := s.catalog.Chapter(c.Param("chapter"))
	if errors.Is(err, labs.ErrNotFound) {
		return nil, errNotFound
	}
	return ch, err
}

// callerAndChapter is the signed-in caller and the chapter the path names.
func (s *Server) callerAndChapter(c echo.Context) (*store.User, *labs.Chapter, error) {
	u, err := currentUser(c)
	if err != nil {
		return nil, nil, err
	}
	ch, err := s.chapter(c)
	if err != nil {
		return nil, nil, err
	}
	return u, ch, nil
}

func (s *Server) startSession(c echo.Context) error {
	u, ch, err := s.callerAndChapter(c)
	if err != nil {
		return err
	}
	if why := s.whyNotHere(ch); why != nil {
		return why
	}
	spec := labshell.ChapterSpec(ch)
	spec.TTL = s.workshopTTL(c.Request().Context(), u.ID, ch.ID)
	ss, err := s.sandboxes.Start(c.Request().Context(), u.ID, spec)
	if err != nil {
		return fmt.Errorf("start session of %s in %s: %w", u.ID, ch.ID, err)
	}
	if ss.Status == sandbox.StatusReady {
		s.sessionReady(ss)
	}
	status := http.StatusAccepted
	if ss.Status == sandbox.StatusReady {
		status = http.StatusOK
	}
	return c.JSON(status, toSessionJSON(ss))
}

// listSessions answers the caller's running (and queued) labs, oldest
// first, with each chapter's title: the labs page, the logout question and
// the per-learner limit show them.
func (s *Server) listSessions(c echo.Context) error {
	rows, err := s.labRows(c)
	if err != nil {
		return err
	}
	out := make([]labJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, labJSON{ID: r.ID, Chapter: r.Chapter, Title: r.Title, URL: r.URL, Status: r.Status, ExpiresAt: timePtr(r.ExpiresAt)})
	}
	return c.JSON(http.StatusOK, out)
}

type labJSON struct {
	ID        string     `json:"id"`
	Chapter   string     `json:"chapter"`
	Title     string     `json:"title"`
	URL       string     `json:"url"` // the lab's page
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// labRows lists the caller's running labs.
func (s *Server) labRows(c echo.Context) ([]labRow, error) {
	u, err := currentUser(c)
	if err != nil {
		return nil, err
	}
	sessions, err := s.sandboxes.SessionsOf(c.Request().Context(), u.ID)
	if err != nil {
		return nil, fmt.Errorf("labs of %s: %w", u.ID, err)
	}
	rows := make([]labRow, 0, len(sessions))
	for _, ss := range sessions {
		row := labRow{ID: ss.ID, Chapter: ss.Chapter, Title: ss.Chapter, URL: "/chapters/" + url.PathEscape(ss.Chapter), Status: ss.Status, ExpiresAt: ss.ExpiresAt}
		if ch, err := s.Chapter(ss.Chapter); err == nil {
			row.Title = ch.Title
		}
		if id, ok := strings.CutPrefix(ss.Chapter, attemptChapterPrefix); ok {
			row.Title, row.URL = "Exam: "+row.Title, "/exams/attempts/"+url.PathEscape(id)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (s *Server) getSession(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toSessionJSON(ss))
}

func (s *Server) endSession(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	if err := s.sandboxes.End(c.Request().Context(), ss.ID); err != nil {
		return fmt.Errorf("end session %s: %w", ss.ID, err)
	}
	s.sessionGone(ss.ID, "the session was ended")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) resetSession(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	ss, err = s.sandboxes.Reset(c.Request().Context(), ss.ID)
	if err != nil {
		return fmt.Errorf("reset session %s: %w", c.Param("id"), err)
	}
	return c.JSON(http.StatusAccepted, toSessionJSON(ss))
}

func (s *Server) extendSession(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	ss, err = s.sandboxes.Extend(c.Request().Context(), ss.ID)
	if err != nil {
		return fmt.Errorf("extend session %s: %w", c.Param("id"), err)
	}
	return c.JSON(http.StatusOK, toSessionJSON(ss))
}

// readySandbox returns the session's sandbox, or a 409 saying it is not ready.
func (s *Server) readySandbox(ctx context.Context, ss sandbox.Session) (*sandbox.Sandbox, error) {
	if ss.Status != sandbox.StatusReady {
		return nil, errSandboxNotReady
	}
	sb, err := s.sandboxes.Sandbox(ctx, ss.ID)
	if errors.Is(err, sandbox.ErrNotReady) {
		return nil, errSandboxNotReady
	}
	if err != nil {
		return nil, fmt.Errorf("get sandbox of %s: %w", ss.ID, err)
	}
	return sb, nil
}

// activity records that the learner is working in the page (ownedSession
// counts it).
func (s *Server) activity(c echo.Context) error {
	if _, _, err := s.ownedSession(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// sessionGone stops what kubelab runs for a session that ended or is being
// recreated: its live grading, its terminal and its cached grader target.
func (s *Server) sessionGone(id, reason string) {
	s.live.stop(id)
	s.targets.evict(id)
	if s.terminals != nil {
		s.terminals.Close(id, reason)
	}
}

// followSandboxEvents forwards the sandbox manager's events to the sessions'
// event streams and starts or stops live grading, until the server stops.
func (s *Server) followSandboxEvents(sub *sandbox.Subscription) {
	defer sub.Close()
	for {
		ev, err := sub.Next(s.life)
		if err != nil {
			return
		}
		s.sandboxEvent(ev)
	}
}

// sessionReady starts what a ready session runs on the server: live
// grading and, ahead of the learner, the shell.
func (s *Server) sessionReady(ss sandbox.Session) {
	s.live.ensure(ss)
	s.prestartShell(ss)
}

func (s *Server) sandboxEvent(ev sandbox.Event) {
	switch ev.Type {
	case sandbox.EventReset: // a new sandbox replaces the one under a running shell
		s.sessionGone(ev.Session, ev.Message)
	case sandbox.EventStatus:
		ss := ev.State
		if ss.Status == sandbox.StatusProvisioning && s.movedOn(ss) {
			return // a claim answered the learner as ready already; this would undo it on the page
		}
		s.events.publish(ev.Session, "status", toSessionJSON(ss))
		s.grids.changed("", ss.Owner)
		switch ss.Status {
		case sandbox.StatusReady:
			s.sessionReady(ss)
		case sandbox.StatusEnded, sandbox.StatusExpired, sandbox.StatusFailed:
			s.sessionGone(ss.ID, "the session "+ss.Status)
		}
	case sandbox.EventExpiring:
		s.events.publish(ev.Session, "expiring", map[string]any{"kind": ev.Kind, "message": ev.Message, "time": ev.Time})
	case sandbox.EventActive:
		s.events.publish(ev.Session, "active", struct{}{})
	default:
		s.events.publish(ev.Session, "progress", map[string]any{"step": ev.Step, "message": ev.Message, "time": ev.Time})
	}
}

// stream writes server-sent events: first, then what arrives on ch,
// with a comment every 20 s that keeps proxies from closing the stream,
// until the client leaves or the server stops.
func (s *Server) stream(c echo.Context, first []sseEvent, ch <-chan sseEvent) {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ev sseEvent) error {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Name, ev.Data); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	for _, ev := range first {
		if send(ev) != nil {
			return
		}
	}
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	ctx := c.Request().Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.life.Done():
			return
		case ev, ok := <-ch:
			if !ok || send(ev) != nil {
				return // closed: the client fell behind and reconnects
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			w.Flush()
		}
	}
}

// movedOn reports whether a session is past the provisioning that ss
// reports: events reach the server behind the answer of a claim from the
// warm pool, which waits for ready.
func (s *Server) movedOn(ss sandbox.Session) bool {
	cur, err := s.sandboxes.Session(s.life, ss.ID)
	return err == nil && cur.Status != sandbox.StatusProvisioning
}

// sessionEvents streams a session's events as server-sent events. The first
// event is always the current status, so a reconnecting client is in sync.
func (s *Server) sessionEvents(c echo.Context) error {
	ss, _, err := s.lookupOwnedSession(c)
	if err != nil {
		return err
	}
	ch, unsubscribe := s.events.subscribe(ss.ID)
	defer unsubscribe()
	// The first status is read after subscribing: a change between the
	// lookup above and the subscription (a warm sandbox is ready within
	// milliseconds) would otherwise be neither in it nor in the stream.
	// A change after subscribing is in the stream too, in order, after it.
	if cur, err := s.sandboxes.Session(c.Request().Context(), ss.ID); err == nil {
		ss = cur
	}
	var first []sseEvent
	if data, err := jsonBytes(toSessionJSON(ss)); err == nil {
		first = append(first, sseEvent{Name: "status", Data: data})
	}
	// The banner of the learner's workshop stays until replaced: a page
	// that connects later shows it too.
	if w, ok, err := s.learnerWorkshop(c.Request().Context(), ss); err == nil && ok && w.Banner != "" {
		if data, err := jsonBytes(bannerJSON{Message: w.Banner, From: w.OwnerName, At: w.BannerAt}); err == nil {
			first = append(first, sseEvent{Name: "banner", Data: data})
		}
	}
	if results, ok := s.live.latest(ss.ID); ok {
		if data, err := jsonBytes(results); err == nil {
			first = append(first, sseEvent{Name: "tasks", Data: data})
		}
	}
	s.stream(c, first, ch)
	return nil
}
