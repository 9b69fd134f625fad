package server

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// What an instructor does for the learners of a workshop: act on their
// labs (reset, extend, end, fast-forward), mirror a terminal (and type in
// it once the learner agreed), send messages; and what a learner does to
// ask for help (raise a hand). Every look at or into a learner's terminal
// is audited and shown to the learner.

var (
	errNotInWorkshop = errStatus(http.StatusNotFound,
		"This learner is not in this event. Reload the grid and try again.")
	errNoLab = errStatus(http.StatusConflict,
		"This learner has no running lab in the event's chapters. They start one from a chapter's page.")
	errAction = errStatus(http.StatusNotFound,
		"An action is reset, extend, end or fast-forward.")
	errFastForwardTask = errStatus(http.StatusBadRequest,
		"Fast-forward needs a chapter of the event and one of its tasks.")
	errNoSolve = errStatus(http.StatusNotImplemented,
		"This kubelab runs shells in workspace pods, where fast-forward cannot apply solutions. Ask the learner to follow the solutions instead.")
	errMessage = errStatus(http.StatusBadRequest,
		"Write a message of 1 to 500 characters.")
	errNoTakeover = errStatus(http.StatusForbidden,
		"The learner has not accepted that you type in their terminal. Ask with Take over, and wait for their answer.")
	errNoTakeoverAsked = errStatus(http.StatusNotFound,
		"Nobody asked to type in your terminal, or the question has expired.")
	errNotInAnyWorkshop = errStatus(http.StatusConflict,
		"This lab is not part of an event you joined, so there is no instructor to raise your hand to.")
)

// takeoverFor is how long a learner's yes lets an instructor type.
const takeoverFor = 30 * time.Minute

// takeovers remembers who asked to type in whose terminal, and who agreed.
type takeovers struct {
	mu      sync.Mutex
	asked   map[takeoverKey]time.Time // until when the question stands
	granted map[takeoverKey]time.Time // until when typing is allowed
}

type takeoverKey struct{ workshop, instructor, learner string }

func newTakeovers() *takeovers {
	return &takeovers{asked: map[takeoverKey]time.Time{}, granted: map[takeoverKey]time.Time{}}
}

func (t *takeovers) ask(k takeoverKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.asked[k] = time.Now().Add(5 * time.Minute)
}

// answer settles every open question to a learner; it reports the ones it
// answered.
func (t *takeovers) answer(learner string, accept bool) []takeoverKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []takeoverKey
	now := time.Now()
	for k, until := range t.asked {
		if k.learner != learner {
			continue
		}
		delete(t.asked, k)
		if now.After(until) {
			continue
		}
		out = append(out, k)
		if accept {
			t.granted[k] = now.Add(takeoverFor)
		}
	}
	return out
}

func (t *takeovers) allowed(k takeoverKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.granted[k]
	if ok && time.Now().After(until) {
		delete(t.granted, k)
		return false
	}
	return ok
}

// workshopLearner is the caller's workshop of the path and its learner of
// the path ({user}), who must have joined it.
func (s *Server) workshopLearner(c echo.Context) (store.Workshop, *store.User, string, error) {
	w, u, err := s.ownWorkshop(c)
	if err != nil {
		return w, nil, "", err
	}
	id := c.Param("user")
	ok, err := s.store.IsWorkshopLearner(c.Request().Context(), w.ID, id)
	if err != nil {
		return w, nil, "", err
	}
	if !ok {
		return w, nil, "", errNotInWorkshop
	}
	return w, u, id, nil
}

type actionFailureJSON struct {
	Learner string `json:"learner"`
	Name    string `json:"name"`
	Error   string `json:"error"`
}

// learnerAction runs reset, extend, end or fast-forward on one learner's
// lab, or on everyone's with {user} "-".
func (s *Server) learnerAction(c echo.Context) error {
	w, u, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	action := c.Param("action")
	var ff struct {
		Chapter string `json:"chapter"`
		Task    string `json:"task"`
	}
	switch action {
	case "reset", "extend", "end":
	case "fast-forward":
		if err := bindJSON(c, &ff); err != nil {
			return err
		}
		if !slices.Contains(w.Chapters, ff.Chapter) {
			return errFastForwardTask
		}
		ch, err := s.Chapter(ff.Chapter)
		if err != nil || !slices.ContainsFunc(ch.Tasks, func(t *labs.Task) bool { return t.ID == ff.Task }) {
			return errFastForwardTask
		}
		if s.opts.Solve == nil {
			return errNoSolve
		}
	default:
		return errAction
	}
	ctx := c.Request().Context()
	learners, err := s.store.WorkshopLearners(ctx, w.ID)
	if err != nil {
		return err
	}
	if who := c.Param("user"); who != "-" {
		learners = slices.DeleteFunc(learners, func(l store.WorkshopLearner) bool { return l.UserID != who })
		if len(learners) == 0 {
			return errNotInWorkshop
		}
	}
	out := struct {
		Done   int                 `json:"done"`
		Failed []actionFailureJSON `json:"failed"`
	}{Failed: []actionFailureJSON{}}
	for _, l := range learners {
		err := s.actOn(ctx, w, l.UserID, action, ff.Chapter, ff.Task)
		if err == nil {
			out.Done++
			if aerr := s.store.Audit(ctx, w.ID, u.ID, l.UserID, action); aerr != nil {
				return aerr
			}
			s.grids.changed(w.ID, l.UserID)
			continue
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		he := toHTTPError(err)
		if he.status >= 500 {
			s.log.Warn("workshop action failed", "workshop_id", w.ID, "user_id", l.UserID, "action", action, "err", err)
		}
		out.Failed = append(out.Failed, actionFailureJSON{Learner: l.UserID, Name: l.Name, Error: he.message})
	}
	return c.JSON(http.StatusOK, out)
}

// actOn runs one action on one learner's lab in the workshop.
func (s *Server) actOn(ctx context.Context, w store.Workshop, userID, action, chapter, task string) error {
	if action == "end" {
		n, err := s.endLabs(ctx, w, userID)
		if err == nil && n == 0 {
			return errNoLab
		}
		return err
	}
	lab, ok, err := s.workshopLab(ctx, w, userID)
	if err != nil {
		return err
	}
	if !ok || action == "fast-forward" && lab.Chapter != chapter {
		return errNoLab
	}
	switch action {
	case "reset":
		_, err = s.sandboxes.Reset(ctx, lab.ID)
	case "extend":
		_, err = s.sandboxes.Extend(ctx, lab.ID)
	case "fast-forward":
		err = s.fastForward(ctx, lab, chapter, task)
	}
	return err
}

// endLabs ends a learner's labs in the workshop's chapters.
func (s *Server) endLabs(ctx context.Context, w store.Workshop, userID string) (int, error) {
	sessions, err := s.sandboxes.SessionsOf(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("labs of %s: %w", userID, err)
	}
	n := 0
	for _, ss := range sessions {
		if !slices.Contains(w.Chapters, ss.Chapter) {
			continue
		}
		if err := s.sandboxes.End(ctx, ss.ID); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
			return n, fmt.Errorf("end lab %s: %w", ss.ID, err)
		}
		s.sessionGone(ss.ID, "the instructor ended this lab")
		n++
	}
	return n, nil
}

// fastForward applies the reference solutions of the chapter's tasks
// before task that the lab does not pass yet, in order, in a jail with the
// learner's credentials, as if the learner had typed them.
func (s *Server) fastForward(ctx context.Context, lab sandbox.Session, chapter, task string) error {
	ch, err := s.Chapter(chapter)
	if err != nil {
		return err
	}
	sb, err := s.readySandbox(ctx, lab)
	if err != nil {
		return err
	}
	passed := map[string]bool{}
	if results, ok := s.live.latest(lab.ID); ok {
		for _, r := range results {
			passed[r.ID] = r.Passed
		}
	}
	for _, t := range ch.Tasks {
		if t.ID == task {
			break
		}
		// A task the lab passes already is left as the learner made it
		// (its solution would clash with their objects).
		if passed[t.ID] || strings.TrimSpace(t.Solution) == "" {
			continue
		}
		if out, err := s.opts.Solve(ctx, lab, sb, t.Solution); err != nil {
			return fmt.Errorf("fast-forward %s: solution of %s: %w\n%s", lab.ID, t.ID, err, out)
		}
	}
	return nil
}

// mirrorTerminal streams a learner's terminal to their instructor,
// read-only; with ?write=1 the instructor types too, once the learner
// accepted. The learner's page is told while the mirror is open.
func (s *Server) mirrorTerminal(c echo.Context) error {
	if !s.browserOriginAllowed(c.Request()) {
		return errCrossSite
	}
	w, u, learner, err := s.workshopLearner(c)
	if err != nil {
		return err
	}
	write := c.QueryParam("write") == "1"
	if write && !s.takeovers.allowed(takeoverKey{w.ID, u.ID, learner}) {
		return errNoTakeover
	}
	ctx := c.Request().Context()
	lab, ok, err := s.workshopLab(ctx, w, learner)
	if err != nil {
		return err
	}
	if !ok {
		return errNoLab
	}
	sb, err := s.readySandbox(ctx, lab)
	if err != nil {
		return err
	}
	term, err := s.terminals.Open(s.life, lab.ID, s.shellStarter(lab.ID, sb))
	if err != nil {
		return fmt.Errorf("open the shell of %s: %w", lab.ID, err)
	}
	action := "view terminal"
	if write {
		action = "type in terminal"
	}
	if err := s.store.Audit(ctx, w.ID, u.ID, learner, action); err != nil {
		return err
	}
	ws, err := s.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Upgrade has already answered the client
	}
	watched := func(active bool) {
		kind := "view"
		if write {
			kind = "takeover"
		}
		s.events.publish(lab.ID, "watched", map[string]any{"instructor": u.Name, "action": kind, "active": active})
	}
	watched(true)
	defer watched(false)
	if err := term.Serve(ctx, ws, !write); err != nil {
		s.log.Debug("terminal mirror ended", "session_id", lab.ID, "user_id", u.ID, "err", err)
	}
	return nil
}

// askTakeover asks a learner whether their instructor may type in their
// terminal; the learner's page shows the question.
func (s *Server) askTakeover(c echo.Context) error {
	w, u, learner, err := s.workshopLearner(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	lab, ok, err := s.workshopLab(ctx, w, learner)
	if err != nil {
		return err
	}
	if !ok {
		return errNoLab
	}
	s.takeovers.ask(takeoverKey{w.ID, u.ID, learner})
	if err := s.store.Audit(ctx, w.ID, u.ID, learner, "ask to type in terminal"); err != nil {
		return err
	}
	s.events.publish(lab.ID, "takeover", map[string]string{"instructor": u.Name})
	return c.NoContent(http.StatusAccepted)
}

// answerTakeover is the learner's yes or no to the instructors who asked.
func (s *Server) answerTakeover(c echo.Context) error {
	ss, u, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	var in struct {
		Accept bool `json:"accept"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	answered := s.takeovers.answer(u.ID, in.Accept)
	if len(answered) == 0 {
		return errNoTakeoverAsked
	}
	verdict := "refused"
	if in.Accept {
		verdict = "accepted"
	}
	for _, k := range answered {
		if err := s.store.Audit(c.Request().Context(), k.workshop, k.instructor, u.ID, "take-over "+verdict); err != nil {
			return err
		}
		s.grids.publish(k.workshop, "takeover", map[string]any{"learner": u.ID, "accepted": in.Accept})
	}
	s.log.Info("take-over answered", "session_id", ss.ID, "user_id", u.ID, "accepted", in.Accept)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) lowerHandOf(c echo.Context) error {
	w, _, learner, err := s.workshopLearner(c)
	if err != nil {
		return err
	}
	if _, err := s.store.LowerHand(c.Request().Context(), w.ID, learner); err != nil {
		return err
	}
	s.grids.changed(w.ID, learner)
	s.publishToLearner(c.Request().Context(), learner, "hand", map[string]any{"raised": false})
	return c.NoContent(http.StatusNoContent)
}

// broadcast shows a message to every learner of the workshop, or, with
// chapter and task, a hint to the learners failing that task.
func (s *Server) broadcast(c echo.Context) error {
	w, u, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	var in struct {
		Message string `json:"message"`
		Chapter string `json:"chapter"`
		Task    string `json:"task"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	msg := strings.TrimSpace(in.Message)
	if msg == "" || utf8.RuneCountInString(msg) > 500 || !utf8.ValidString(msg) {
		return errMessage
	}
	ctx := c.Request().Context()
	hint := in.Chapter != "" || in.Task != ""
	banner := bannerJSON{Message: msg, From: u.Name, Hint: hint}
	var to []string
	if hint {
		g, err := s.buildGrid(ctx, w, eventJSON{})
		if err != nil {
			return err
		}
		col := slices.IndexFunc(g.Tasks, func(t gridTaskJSON) bool { return t.Chapter == in.Chapter && t.Task == in.Task })
		if col < 0 {
			return errFastForwardTask
		}
		for _, l := range g.Learners {
			if l.Tasks[col].State == cellFailing {
				to = append(to, l.ID)
			}
		}
	} else {
		at, err := s.store.SetWorkshopBanner(ctx, w.ID, msg)
		if err != nil {
			return err
		}
		banner.At = &at
		learners, err := s.store.WorkshopLearners(ctx, w.ID)
		if err != nil {
			return err
		}
		for _, l := range learners {
			to = append(to, l.UserID)
		}
	}
	if banner.At == nil {
		now := time.Now()
		banner.At = &now
	}
	for _, id := range to {
		if hint {
			if err := s.store.Audit(ctx, w.ID, u.ID, id, hintAction(in.Chapter, in.Task)); err != nil {
				return err
			}
		}
		s.publishToLearner(ctx, id, "banner", banner)
	}
	s.grids.changed(w.ID, "")
	return c.JSON(http.StatusOK, map[string]int{"sent": len(to)})
}

// bannerJSON is a message from the instructor on a learner's page.
type bannerJSON struct {
	Message string     `json:"message"`
	From    string     `json:"from"`
	At      *time.Time `json:"at"`
	Hint    bool       `json:"hint"`
}

// hintAction is the audit entry of a hint sent to a learner on a task.
func hintAction(chapter, task string) string { return "hint " + chapter + "/" + task }

// publishToLearner sends an event to every lab page the learner has open.
func (s *Server) publishToLearner(ctx context.Context, userID, name string, v any) {
	sessions, err := s.sandboxes.SessionsOf(ctx, userID)
	if err != nil {
		s.log.Warn("labs of a learner", "user_id", userID, "err", err)
		return
	}
	for _, ss := range sessions {
		s.events.publish(ss.ID, name, v)
	}
}

// learnerWorkshop is the open workshop a learner's lab belongs to.
func (s *Server) learnerWorkshop(ctx context.Context, ss sandbox.Session) (store.Workshop, bool, error) {
	ws, err := s.store.WorkshopsOf(ctx, ss.Owner)
	if err != nil {
		return store.Workshop{}, false, err
	}
	now := time.Now()
	for _, w := range ws {
		if !w.Over(now) && slices.Contains(w.Chapters, ss.Chapter) {
			return w, true, nil
		}
	}
	return store.Workshop{}, false, nil
}

// raiseHand asks the learner's instructor for help, with the task they
// are on, its failing check and their last commands.
func (s *Server) raiseHand(c echo.Context) error {
	ss, u, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	var in struct {
		Message string `json:"message"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	msg := strings.TrimSpace(in.Message)
	if utf8.RuneCountInString(msg) > 500 || !utf8.ValidString(msg) {
		return errMessage
	}
	ctx := c.Request().Context()
	w, ok, err := s.learnerWorkshop(ctx, ss)
	if err != nil {
		return err
	}
	if !ok {
		return errNotInAnyWorkshop
	}
	h := store.Hand{UserID: u.ID, Chapter: ss.Chapter, Message: msg, Commands: s.typedCommands(ss.ID)}
	if results, ok := s.live.latest(ss.ID); ok {
		for _, r := range results {
			if !r.Passed {
				h.Task, h.CheckMessage = r.ID, failingMessage(r)
				break
			}
		}
	}
	h, err = s.store.RaiseHand(ctx, w.ID, h)
	if err != nil {
		return err
	}
	s.grids.changed(w.ID, u.ID)
	return c.JSON(http.StatusCreated, toHandJSON(h))
}

func (s *Server) lowerHand(c echo.Context) error {
	ss, u, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	w, ok, err := s.learnerWorkshop(ctx, ss)
	if err != nil {
		return err
	}
	if !ok {
		return errNotInAnyWorkshop
	}
	if _, err := s.store.LowerHand(ctx, w.ID, u.ID); err != nil {
		return err
	}
	s.grids.changed(w.ID, u.ID)
	return c.NoContent(http.StatusNoContent)
}

// typedCommands is the last commands typed in a session's terminal.
func (s *Server) typedCommands(session string) []string {
	if s.terminals == nil {
		return []string{}
	}
	term, ok := s.terminals.Get(session)
	if !ok {
		return []string{}
	}
	if p, ok := term.Process().(activeProcess); ok && p.typed != nil {
		return p.typed.last()
	}
	return []string{}
}

type auditJSON struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Learner string    `json:"learner"`
	Action  string    `json:"action"`
}

func (s *Server) workshopAudit(c echo.Context) error {
	w, _, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	entries, err := s.store.AuditLog(c.Request().Context(), w.ID)
	if err != nil {
		return err
	}
	out := make([]auditJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditJSON{At: e.At, Actor: e.ActorName, Learner: e.Learner, Action: e.Action})
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": out})
}

// exportRow is a learner × task of a workshop's export.
type exportRow struct {
	Learner            string     `json:"learner"`
	LearnerID          string     `json:"learner_id"`
	Chapter            string     `json:"chapter"`
	Task               string     `json:"task"`
	State              string     `json:"state"`
	Checks             int        `json:"checks"`
	FirstSeenAt        *time.Time `json:"first_seen_at"`
	PassedAt           *time.Time `json:"passed_at"`
	SecondsToFirstPass *int64     `json:"seconds_to_first_pass"`
	HintsReceived      int        `json:"hints_received"`
	SolutionRevealed   bool       `json:"solution_revealed"`
}

// exportWorkshop answers the workshop's results as CSV or JSON (format),
// a row per learner × task; ?anonymous=1 replaces names and ids.
func (s *Server) exportWorkshop(format string) echo.HandlerFunc {
	return func(c echo.Context) error {
		w, _, err := s.ownWorkshop(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		g, err := s.buildGrid(ctx, w, eventJSON{})
		if err != nil {
			return err
		}
		progress, err := s.store.WorkshopProgress(ctx, w.ID, "")
		if err != nil {
			return err
		}
		seen := map[[3]string]time.Time{}
		for _, r := range progress {
			seen[[3]string{r.UserID, r.Chapter, r.Task}] = r.FirstSeenAt
		}
		audit, err := s.store.AuditLog(ctx, w.ID)
		if err != nil {
			return err
		}
		hints := map[[2]string]int{}
		for _, e := range audit {
			hints[[2]string{e.LearnerID, e.Action}]++
		}
		anonymous := c.QueryParam("anonymous") == "1"
		rows := []exportRow{}
		for i, l := range g.Learners {
			name, id := l.Name, l.ID
			if anonymous {
				name, id = "Learner "+strconv.Itoa(i+1), "learner-"+strconv.Itoa(i+1)
			}
			for _, cell := range l.Tasks {
				r := exportRow{Learner: name, LearnerID: id, Chapter: cell.Chapter, Task: cell.Task, State: cell.State,
					Checks: cell.Checks, PassedAt: cell.PassedAt, SolutionRevealed: cell.SolutionRevealedAt != nil,
					HintsReceived: hints[[2]string{l.ID, hintAction(cell.Chapter, cell.Task)}]}
				if at, ok := seen[[3]string{l.ID, cell.Chapter, cell.Task}]; ok {
					r.FirstSeenAt = &at
					if cell.PassedAt != nil {
						secs := int64(cell.PassedAt.Sub(at) / time.Second)
						r.SecondsToFirstPass = &secs
					}
				}
				rows = append(rows, r)
			}
		}
		name := "event-" + w.ID
		if anonymous {
			name += "-anonymous"
		}
		if format == "json" {
			c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
			return c.JSON(http.StatusOK, map[string]any{"event": w.Title, "exported_at": time.Now(), "rows": rows})
		}
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		c.Response().WriteHeader(http.StatusOK)
		cw := csv.NewWriter(c.Response())
		_ = cw.Write([]string{"learner", "learner_id", "chapter", "task", "state", "checks", "first_seen_at", "passed_at", "seconds_to_first_pass", "hints_received", "solution_revealed"})
		for _, r := range rows {
			_ = cw.Write([]string{csvSafe(r.Learner), r.LearnerID, r.Chapter, r.Task, r.State, strconv.Itoa(r.Checks),
				timeCell(r.FirstSeenAt), timeCell(r.PassedAt), intCell(r.SecondsToFirstPass), strconv.Itoa(r.HintsReceived), strconv.FormatBool(r.SolutionRevealed)})
		}
		cw.Flush()
		return cw.Error()
	}
}

func timeCell(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func intCell(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n, 10)
}

// csvSafe keeps a learner's chosen name from being read as a formula by a
// spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
