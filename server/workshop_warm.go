package server

import (
	"context"
	"sync"
	"time"

	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
)

// A workshop's first chapter is warmed before it starts: the sandbox
// manager keeps, on top of its pool, a warm sandbox (its setup run) for
// every seat whose learner has not started yet, from a lead time before
// the start that grows with the seats and the measured time a warm
// sandbox takes to make.

// warmAtMost bounds one workshop's warm sandboxes.
const warmAtMost = 100

// warmLeadMin is the least time before its start a workshop is warmed.
const warmLeadMin = 10 * time.Minute

// warmParallel is how many warm sandboxes are made at once, about (the
// manager makes them concurrently; two cores here).
const warmParallel = 2

type warmJSON struct {
	Wanted  int       `json:"wanted"`
	Ready   int       `json:"ready"`
	ReadyBy time.Time `json:"ready_by"` // when all wanted should be warm
}

// warming is what the server asked the manager to keep warm, by workshop.
type warming struct {
	mu   sync.Mutex
	asks map[string]warmAsk
}

type warmAsk struct {
	chapter string
	wanted  int
	readyBy time.Time
}

// warmLead is how long before a workshop's start its n warm sandboxes
// are begun.
func (s *Server) warmLead(n int) time.Duration {
	each := s.sandboxes.WarmTime()
	if each == 0 {
		each = 2 * time.Second
	}
	return max(warmLeadMin, time.Duration(n)*each/warmParallel)
}

// warmWorkshops asks the manager for each live workshop's warm sandboxes
// (and withdraws the asks of those no longer live).
func (s *Server) warmWorkshops(ctx context.Context) {
	now := time.Now()
	ws, err := s.store.LiveWorkshops(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("live workshops", "err", err)
		}
		return
	}
	live := map[string]bool{}
	for _, w := range ws {
		live[w.ID] = true
		if err := s.warmWorkshop(ctx, w, now); err != nil && ctx.Err() == nil {
			s.log.Warn("warm a workshop's labs", "workshop_id", w.ID, "err", err)
		}
	}
	s.warm.mu.Lock()
	var gone []string
	for id := range s.warm.asks {
		if !live[id] {
			gone = append(gone, id)
			delete(s.warm.asks, id)
		}
	}
	s.warm.mu.Unlock()
	for _, id := range gone {
		s.sandboxes.Warm(id, sandbox.ChapterSpec{}, 0)
	}
}

func (s *Server) warmWorkshop(ctx context.Context, w store.Workshop, now time.Time) error {
	ch, err := s.Chapter(w.Chapters[0])
	if err != nil {
		return nil // a chapter removed from the catalog since
	}
	started, err := s.store.WorkshopStarts(ctx, w.ID, ch.ID)
	if err != nil {
		return err
	}
	want := min(warmAtMost, max(0, w.Seats-started))
	begin := now
	if w.StartsAt != nil {
		begin = w.StartsAt.Add(-s.warmLead(want))
	}
	if now.Before(begin) {
		want = 0
	}
	spec := labshell.ChapterSpec(ch)
	s.sandboxes.Warm(w.ID, spec, want)
	if want > 0 {
		s.grids.changed(w.ID, "") // the grid shows the warm labs
	}
	s.warm.mu.Lock()
	defer s.warm.mu.Unlock()
	ask, ok := s.warm.asks[w.ID]
	if !ok || ask.wanted != want {
		ready := s.sandboxes.WarmReady(spec)
		each := max(s.sandboxes.WarmTime(), time.Second)
		ask = warmAsk{chapter: ch.ID, wanted: want, readyBy: now.Add(time.Duration(max(0, want-ready)) * each / warmParallel)}
	}
	s.warm.asks[w.ID] = ask
	return nil
}

// warmOf is a workshop's warm sandboxes as its instructor sees them; nil
// while none are asked for.
func (s *Server) warmOf(id string) *warmJSON {
	s.warm.mu.Lock()
	ask, ok := s.warm.asks[id]
	s.warm.mu.Unlock()
	if !ok || ask.wanted == 0 {
		return nil
	}
	ch, err := s.Chapter(ask.chapter)
	if err != nil {
		return nil
	}
	return &warmJSON{Wanted: ask.wanted, Ready: min(ask.wanted, s.sandboxes.WarmReady(labshell.ChapterSpec(ch))), ReadyBy: ask.readyBy}
}
