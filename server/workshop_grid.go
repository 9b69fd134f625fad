package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// The live grid of a workshop: a row per learner, a cell per task of the
// workshop's chapters, from the learners' stored progress and their labs'
// live grading. It is pushed over server-sent events: a change to a
// learner (a task graded, a lab started or ended, a hand raised) marks the
// workshops that are being watched dirty, and each watched workshop's
// grid is rebuilt at most every gridCoalesce, sending the rows that changed.

// stuckAfter is how long a learner may be on one task before the grid
// flags them stuck (sooner when they take longer than most of the group).
const stuckAfter = 10 * time.Minute

// gridCoalesce gathers the changes of a burst (a reset grades every task)
// into one rebuild.
const gridCoalesce = 150 * time.Millisecond

// Grid cell states.
const (
	cellNotStarted = "not_started"
	cellFailing    = "failing"
	cellPassed     = "passed"
)

type gridTaskJSON struct {
	Chapter  string  `json:"chapter"`
	Task     string  `json:"task"`
	Title    string  `json:"title"`
	PassRate float64 `json:"pass_rate"`
}

type cellJSON struct {
	Chapter            string     `json:"chapter"`
	Task               string     `json:"task"`
	State              string     `json:"state"`
	Message            string     `json:"message,omitempty"`
	PassedAt           *time.Time `json:"passed_at"`
	Checks             int        `json:"checks"`
	SolutionRevealedAt *time.Time `json:"solution_revealed_at"`
}

type gridSessionJSON struct {
	ID        string    `json:"id"`
	Chapter   string    `json:"chapter"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
}

type taskRefJSON struct {
	Chapter string `json:"chapter"`
	Task    string `json:"task"`
}

type handJSON struct {
	RaisedAt time.Time `json:"raised_at"`
	Chapter  string    `json:"chapter"`
	Task     string    `json:"task"`
	Check    string    `json:"check"`
	Message  string    `json:"message"`
	Commands []string  `json:"commands"`
}

type learnerJSON struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Guest       bool             `json:"guest"`
	JoinedAt    time.Time        `json:"joined_at"`
	Session     *gridSessionJSON `json:"session"`
	Current     *taskRefJSON     `json:"current"`
	Since       *time.Time       `json:"since,omitempty"` // on the current task since
	Stuck       bool             `json:"stuck"`
	StuckReason string           `json:"stuck_reason,omitempty"`
	Hand        *handJSON        `json:"hand"`
	Tasks       []cellJSON       `json:"tasks"`
}

type gridJSON struct {
	Event             eventJSON      `json:"event"`
	Tasks             []gridTaskJSON `json:"tasks"`
	Learners          []learnerJSON  `json:"learners"`
	StuckAfterMinutes int            `json:"stuck_after_minutes"`
	GeneratedAt       time.Time      `json:"generated_at"`
}

func toHandJSON(h store.Hand) *handJSON {
	return &handJSON{RaisedAt: h.RaisedAt, Chapter: h.Chapter, Task: h.Task, Check: h.CheckMessage, Message: h.Message, Commands: h.Commands}
}

// workshopLab is the learner's lab in one of the workshop's chapters: the
// newest that is not over.
func (s *Server) workshopLab(ctx context.Context, w store.Workshop, userID string) (sandbox.Session, bool, error) {
	sessions, err := s.sandboxes.SessionsOf(ctx, userID)
	if err != nil {
		return sandbox.Session{}, false, fmt.Errorf("labs of %s: %w", userID, err)
	}
	lab, ok := workshopLabs(w, sessions)[userID]
	return lab, ok, nil
}

// workshopLabs picks each owner's newest lab in the workshop's chapters.
func workshopLabs(w store.Workshop, sessions []sandbox.Session) map[string]sandbox.Session {
	out := map[string]sandbox.Session{}
	for _, ss := range sessions {
		if best, ok := out[ss.Owner]; slices.Contains(w.Chapters, ss.Chapter) && (!ok || ss.CreatedAt.After(best.CreatedAt)) {
			out[ss.Owner] = ss
		}
	}
	return out
}

// buildGrid computes a workshop's grid now.
func (s *Server) buildGrid(ctx context.Context, w store.Workshop, ev eventJSON) (gridJSON, error) {
	learners, err := s.store.WorkshopLearners(ctx, w.ID)
	if err != nil {
		return gridJSON{}, err
	}
	progress, err := s.store.WorkshopProgress(ctx, w.ID, "")
	if err != nil {
		return gridJSON{}, err
	}
	hands, err := s.store.Hands(ctx, w.ID, "")
	if err != nil {
		return gridJSON{}, err
	}
	type key struct{ user, chapter, task string }
	rows := map[key]store.TaskResultRow{}
	for _, r := range progress {
		rows[key{r.UserID, r.Chapter, r.Task}] = r.TaskResultRow
	}
	handOf := map[string]store.Hand{}
	for _, h := range hands {
		handOf[h.UserID] = h
	}
	g := gridJSON{Event: ev, Tasks: []gridTaskJSON{}, Learners: []learnerJSON{}, StuckAfterMinutes: int(stuckAfter / time.Minute), GeneratedAt: time.Now()}
	for _, id := range w.Chapters {
		ch, err := s.Chapter(id)
		if err != nil {
			continue // a chapter removed from the catalog since
		}
		for _, t := range ch.Tasks {
			g.Tasks = append(g.Tasks, gridTaskJSON{Chapter: id, Task: t.ID, Title: t.Title})
		}
	}
	// How long the group took on each task: its 75th percentile marks a
	// learner who takes longer as stuck.
	took := map[taskRefJSON][]time.Duration{}
	for _, l := range learners {
		var prev *time.Time
		for _, gt := range g.Tasks {
			r, ok := rows[key{l.UserID, gt.Chapter, gt.Task}]
			if ok && r.FirstPassedAt != nil {
				from := r.FirstSeenAt
				if prev != nil && prev.After(from) {
					from = *prev
				}
				took[taskRefJSON{gt.Chapter, gt.Task}] = append(took[taskRefJSON{gt.Chapter, gt.Task}], r.FirstPassedAt.Sub(from))
				prev = r.FirstPassedAt
			}
		}
	}
	ids := make([]string, 0, len(learners))
	for _, l := range learners {
		ids = append(ids, l.UserID)
	}
	sessions, err := s.sandboxes.SessionsOfAll(ctx, ids)
	if err != nil {
		return gridJSON{}, err
	}
	labs := workshopLabs(w, sessions)
	now := time.Now()
	passed := make([]int, len(g.Tasks))
	for _, l := range learners {
		row := learnerJSON{ID: l.UserID, Name: l.Name, Guest: l.Guest, JoinedAt: l.JoinedAt, Tasks: make([]cellJSON, 0, len(g.Tasks))}
		if h, ok := handOf[l.UserID]; ok {
			row.Hand = toHandJSON(h)
		}
		lab, hasLab := labs[l.UserID]
		live := map[string]taskResultJSON{}
		if hasLab {
			row.Session = &gridSessionJSON{ID: lab.ID, Chapter: lab.Chapter, Status: lab.Status, ExpiresAt: lab.ExpiresAt}
			if results, ok := s.live.latest(lab.ID); ok {
				for _, r := range results {
					live[r.ID] = r
				}
			}
		}
		for i, gt := range g.Tasks {
			r, ok := rows[key{l.UserID, gt.Chapter, gt.Task}]
			cell := cellJSON{Chapter: gt.Chapter, Task: gt.Task, State: cellNotStarted}
			if ok {
				cell.Checks, cell.SolutionRevealedAt = r.ChecksRun, r.SolutionRevealedAt
				if r.Passed {
					cell.State, cell.PassedAt = cellPassed, r.FirstPassedAt
					passed[i]++
				} else if r.Score > 0 {
					cell.State = cellFailing
				}
			}
			if hasLab && lab.Chapter == gt.Chapter && cell.State != cellPassed {
				if lr, ok := live[gt.Task]; ok {
					cell.Message = failingMessage(lr)
				}
				if row.Current == nil {
					// The first task not passed in the chapter the
					// learner's lab is in is the one they are on.
					row.Current = &taskRefJSON{gt.Chapter, gt.Task}
					cell.State = cellFailing
					since := lab.CreatedAt
					if i > 0 && row.Tasks[i-1].PassedAt != nil && row.Tasks[i-1].PassedAt.After(since) {
						since = *row.Tasks[i-1].PassedAt
					}
					row.Since = &since
					row.Stuck, row.StuckReason = stuck(now.Sub(since), took[*row.Current])
				}
			}
			row.Tasks = append(row.Tasks, cell)
		}
		// A task not passed before one that passed was skipped: failing.
		for i := len(row.Tasks) - 1; i >= 0; i-- {
			if row.Tasks[i].State == cellPassed {
				for j := i - 1; j >= 0 && row.Tasks[j].Chapter == row.Tasks[i].Chapter; j-- {
					if row.Tasks[j].State == cellNotStarted {
						row.Tasks[j].State = cellFailing
					}
				}
			}
		}
		g.Learners = append(g.Learners, row)
	}
	if n := len(learners); n > 0 {
		for i := range g.Tasks {
			g.Tasks[i].PassRate = float64(passed[i]) / float64(n)
		}
	}
	return g, nil
}

// stuck says whether time on a task is too long: over stuckAfter, or over
// the 75th percentile of the group's times on it (once four have passed
// it, and past two minutes).
func stuck(on time.Duration, group []time.Duration) (bool, string) {
	if on > stuckAfter {
		return true, fmt.Sprintf("on this task for %d minutes", int(on/time.Minute))
	}
	if len(group) >= 4 && on > 2*time.Minute {
		sorted := slices.Clone(group)
		slices.Sort(sorted)
		p75 := sorted[(len(sorted)*3+3)/4-1]
		if on > p75 {
			return true, fmt.Sprintf("on this task for %d minutes; three in four of the group took at most %d", int(on/time.Minute), int(p75/time.Minute)+1)
		}
	}
	return false, ""
}

// failingMessage is the first failing check's message.
func failingMessage(r taskResultJSON) string {
	for _, c := range r.Checks {
		if !c.Passed {
			if c.Message != "" {
				return c.Message
			}
			return c.Error
		}
	}
	return ""
}

func (s *Server) getGrid(c echo.Context) error {
	w, _, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	g, err := s.buildGrid(c.Request().Context(), w, s.toEventJSON(c, w, true))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g)
}

// gridEvents streams a workshop's grid: "grid" first, then "learner" for
// each row that changed, "tasks" when the pass rates changed, "event"
// when the workshop did, and "takeover" when a learner answered a
// take-over ({learner, accepted}).
func (s *Server) gridEvents(c echo.Context) error {
	w, _, err := s.ownWorkshop(c)
	if err != nil {
		return err
	}
	ch, unsubscribe := s.grids.subscribe(w.ID, s.toEventJSON(c, w, true))
	defer unsubscribe()
	ctx := c.Request().Context()
	g, err := s.buildGrid(ctx, w, s.toEventJSON(c, w, true))
	if err != nil {
		return err
	}
	first, err := jsonBytes(g)
	if err != nil {
		return err
	}
	s.stream(c, []sseEvent{{Name: "grid", Data: first}}, ch)
	return nil
}

// gridHub rebuilds the grids that someone watches when their learners
// change, and sends the changed rows to the watchers.
type gridHub struct {
	s  *Server
	mu sync.Mutex
	// watches holds the workshops with at least one open grid stream.
	watches map[string]*gridWatch
}

type gridWatch struct {
	id      string
	ev      eventJSON // the workshop as the grid shows it, with its codes
	subs    map[chan sseEvent]struct{}
	members map[string]bool // learner ids, as of the last rebuild or join
	dirty   chan struct{}   // one pending rebuild
	stop    context.CancelFunc
	// What the watchers were last sent, to send only changes.
	rows  map[string][]byte
	tasks []byte
}

func newGridHub(s *Server) *gridHub { return &gridHub{s: s, watches: map[string]*gridWatch{}} }

// subscribe opens a stream of workshop id's grid changes.
func (h *gridHub) subscribe(id string, ev eventJSON) (<-chan sseEvent, func()) {
	ch := make(chan sseEvent, 256)
	h.mu.Lock()
	gw := h.watches[id]
	if gw == nil {
		ctx, cancel := context.WithCancel(h.s.life)
		gw = &gridWatch{id: id, ev: ev, subs: map[chan sseEvent]struct{}{}, members: map[string]bool{},
			dirty: make(chan struct{}, 1), stop: cancel, rows: map[string][]byte{}}
		h.watches[id] = gw
		h.s.background.Go(func() { h.run(ctx, gw) })
		gw.dirty <- struct{}{} // learn the members and the rows sent first
	}
	gw.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(gw.subs, ch)
		if len(gw.subs) == 0 && h.watches[id] == gw {
			delete(h.watches, id)
			gw.stop()
		}
	}
}

// changed marks workshop id's grid dirty (any workshop its learner userID
// is in, with id empty; the workshop itself, with userID empty).
func (h *gridHub) changed(id, userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for wid, gw := range h.watches {
		if (id == "" || wid == id) && (userID == "" || gw.members[userID]) {
			select {
			case gw.dirty <- struct{}{}:
			default:
			}
		}
	}
}

// joined adds a learner to a watched workshop's grid.
func (h *gridHub) joined(id, userID string) {
	h.mu.Lock()
	if gw := h.watches[id]; gw != nil {
		gw.members[userID] = true
	}
	h.mu.Unlock()
	h.changed(id, userID)
}

// publish sends one event to whoever watches workshop id's grid.
func (h *gridHub) publish(id, name string, v any) {
	data, err := jsonBytes(v)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if gw := h.watches[id]; gw != nil {
		for ch := range gw.subs {
			gw.send(ch, sseEvent{Name: name, Data: data})
		}
	}
}

// send gives ev to a watcher, or, when it fell behind, closes its stream:
// its page reconnects and gets the whole grid again instead of a stale one.
// Called with the hub's lock held.
func (gw *gridWatch) send(ch chan sseEvent, ev sseEvent) {
	if _, ok := gw.subs[ch]; !ok {
		return
	}
	select {
	case ch <- ev:
	default:
		delete(gw.subs, ch)
		close(ch)
	}
}

func (h *gridHub) run(ctx context.Context, gw *gridWatch) {
	log := h.s.log.With("workshop_id", gw.id)
	for {
		select {
		case <-ctx.Done():
			return
		case <-gw.dirty:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(gridCoalesce):
		}
		if err := h.rebuild(ctx, gw); err != nil && ctx.Err() == nil {
			log.Warn("rebuild the workshop's grid", "err", err)
		}
	}
}

// rebuild computes the grid and sends what changed since the last time.
func (h *gridHub) rebuild(ctx context.Context, gw *gridWatch) error {
	w, err := h.s.store.Workshop(ctx, gw.id)
	if err != nil {
		return err
	}
	ev := gw.ev
	ev.Title, ev.Seats, ev.Joined, ev.StartsAt, ev.EndsAt = w.Title, w.Seats, w.Joined, w.StartsAt, w.EndsAt
	ev.SessionTTLMinutes, ev.Banner, ev.Status = w.SessionTTLMinutes, w.Banner, workshopStatus(w, time.Now())
	ev.Warm = h.s.warmOf(w.ID)
	g, err := h.s.buildGrid(ctx, w, ev)
	if err != nil {
		return err
	}
	var out []sseEvent
	if data, err := jsonBytes(g.Event); err == nil && !bytes.Equal(data, mustJSON(gw.ev)) {
		out = append(out, sseEvent{Name: "event", Data: data})
	}
	gw.ev = g.Event
	if data, err := jsonBytes(g.Tasks); err == nil && !bytes.Equal(data, gw.tasks) {
		out = append(out, sseEvent{Name: "tasks", Data: data})
		gw.tasks = data
	}
	members := map[string]bool{}
	for _, l := range g.Learners {
		members[l.ID] = true
		data, err := jsonBytes(l)
		if err != nil {
			return err
		}
		if !bytes.Equal(gw.rows[l.ID], data) {
			out = append(out, sseEvent{Name: "learner", Data: data})
			gw.rows[l.ID] = data
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name == "event" && out[j].Name != "event" })
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range gw.members {
		if !members[id] {
			delete(gw.members, id)
		}
	}
	for id := range members {
		gw.members[id] = true
	}
	for ch := range gw.subs {
		for _, ev := range out {
			gw.send(ch, ev)
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	data, _ := jsonBytes(v)
	return data
}
