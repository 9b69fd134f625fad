package sandbox

import (
	"context"
	"sync"
	"time"
)

// Event types.
const (
	EventProgress = "progress" // a provisioning step finished (Step)
	EventStatus   = "status"   // the session changed status (Session holds its new state)
	EventExpiring = "expiring" // the session will end at Time unless extended (Kind "ttl") or used (Kind "idle")
	EventActive   = "active"   // activity cancelled an idle warning
	EventReset    = "reset"    // the session's sandbox is being replaced (its shell and grading must stop)
)

// Kinds of EventExpiring.
const (
	ExpiryTTL  = "ttl"
	ExpiryIdle = "idle"
)

// Event reports progress, a status change or an expiry warning of a session.
type Event struct {
	Session string
	Type    string
	Step    string  // EventProgress: "namespace", "rbac", …, "setup", "ready"
	Kind    string  // EventExpiring: ExpiryTTL or ExpiryIdle
	Message string  // a sentence for the learner
	State   Session // EventStatus: the session as it now is
	Time    time.Time
}

// Subscription receives every event the Manager emits after Subscribe, in
// order, without ever blocking the Manager: events wait in an unbounded
// queue until Next takes them.
type Subscription struct {
	subs   *subscribers
	mu     sync.Mutex
	queue  []Event
	signal chan struct{} // has a token while queue is non-empty
}

// Next returns the next event, waiting until there is one or ctx ends.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = Event{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return ev, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-s.signal:
		}
	}
}

// Close stops the subscription; queued events are dropped.
func (s *Subscription) Close() { s.subs.remove(s) }

func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

type subscribers struct {
	mu  sync.Mutex
	all map[*Subscription]struct{}
}

func (ss *subscribers) remove(s *Subscription) {
	ss.mu.Lock()
	delete(ss.all, s)
	ss.mu.Unlock()
}

// Subscribe returns a subscription to every session's events. Subscribe
// before Run so nothing reconcile reports is missed.
func (m *Manager) Subscribe() *Subscription {
	s := &Subscription{subs: &m.subs, signal: make(chan struct{}, 1)}
	m.subs.mu.Lock()
	if m.subs.all == nil {
		m.subs.all = map[*Subscription]struct{}{}
	}
	m.subs.all[s] = struct{}{}
	m.subs.mu.Unlock()
	return s
}

func (m *Manager) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = m.o.Now()
	}
	m.subs.mu.Lock()
	defer m.subs.mu.Unlock()
	for s := range m.subs.all {
		s.push(ev)
	}
}

// emitStatus reports r's current state to subscribers.
func (m *Manager) emitStatus(r Record, position int) {
	s := toSession(r)
	s.Position = position
	m.emit(Event{Session: r.ID, Type: EventStatus, State: s, Message: r.Reason})
}

func (m *Manager) progress(id, step string) {
	m.emit(Event{Session: id, Type: EventProgress, Step: step, Message: step})
}
