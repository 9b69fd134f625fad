package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

func toSession(r Record) Session {
	return Session{
		ID: r.ID, Owner: r.Owner, Chapter: r.Chapter, Status: r.Status, Reason: r.Reason,
		Backend: r.Backend, Namespace: r.Namespace, Namespaces: r.Namespaces, Simulated: r.Simulated,
		CreatedAt: r.CreatedAt, ReadyAt: r.ReadyAt, ExpiresAt: r.ExpiresAt,
	}
}

// session adds the queue position to a queued record.
func (m *Manager) session(ctx context.Context, r Record) (Session, error) {
	s := toSession(r)
	if r.Status == StatusQueued {
		pos, err := m.o.Store.QueuePosition(ctx, r.ID)
		if err != nil {
			return s, err
		}
		s.Position = pos
	}
	return s, nil
}

// Start starts or resumes owner's live session for the chapter. It returns
// at once: ready (a sandbox prepared for the chapter was claimed),
// provisioning (a warm sandbox is claimed, or one is created, and the
// chapter's setup runs, in the background), queued with its position, or
// the session already under way. It returns ErrCapacity when owner already
// holds MaxPerUser sessions, and ErrGuestCapacity when owner is a guest and
// guests hold MaxGuests sessions.
func (m *Manager) Start(ctx context.Context, owner string, ch ChapterSpec) (Session, error) {
	now := m.o.Now()
	class, backend := m.classOf(ch), m.o.Backend
	if class == ClusterClass {
		backend = m.o.ClusterBackend
	}
	r := Record{
		ID: newID(), Owner: owner, Chapter: ch.ID, Size: class, Extra: ch.Namespaces, Nodes: ch.Nodes, Clusters: ch.Clusters,
		Backend: backend, Simulated: m.o.Simulated, CreatedAt: now, ActiveAt: now,
		ExpiresAt: now.Add(min(cmp.Or(ch.TTL, m.o.TTL), max(m.o.MaxTTL, m.o.TTL))), Status: StatusProvisioning,
	}
	// Warm sandboxes have no extra namespaces, the default node layout
	// and one cluster.
	poolable := m.canClaim && ch.poolable()
	src, key := fromCreate, ""
	switch {
	case poolable && m.takeWarm(poolKey(class, ch.ID), &r.SandboxID):
		src, key = fromPrepared, poolKey(class, ch.ID)
	case poolable && m.takeWarm(class, &r.SandboxID):
		src, key = fromPool, class
	default:
		r.SandboxID = newID()
	}
	pooled := src != fromCreate
	r, existing, err := m.o.Store.StartSandboxSession(ctx, r, Admission{MaxPerUser: m.o.MaxPerUser, MaxTotal: m.o.MaxTotal, MaxGuests: m.o.MaxGuests})
	if err != nil || existing || r.Status != StatusProvisioning {
		if pooled {
			m.returnWarm(key, r.SandboxID)
		}
		if err != nil {
			return Session{}, err
		}
		return m.session(ctx, r)
	}
	switch {
	case pooled:
		m.m.poolHit.Inc()
	case poolable && m.o.PoolSize[class] > 0:
		m.m.poolMiss.Inc()
	}
	m.wake() // refill the pool
	done := m.goProvision(r, src)
	if src != fromPrepared {
		return toSession(r), nil
	}
	// A prepared sandbox is a claim away from ready: wait for it, so the
	// learner's page can open the shell from this answer.
	select {
	case <-done:
		return m.Session(ctx, r.ID)
	case <-ctx.Done():
		return toSession(r), nil
	}
}

// classOf is the size class of the chapter's sandboxes.
func (m *Manager) classOf(ch ChapterSpec) string {
	if ch.Cluster || m.o.AllClusters {
		return ClusterClass
	}
	return ch.Size
}

// Session returns a session by id (ErrNotFound if none).
func (m *Manager) Session(ctx context.Context, id string) (Session, error) {
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil {
		return Session{}, err
	}
	return m.session(ctx, r)
}

// SessionsOf returns the owner's live and queued sessions, oldest first.
func (m *Manager) SessionsOf(ctx context.Context, owner string) ([]Session, error) {
	return m.sessions(ctx, Filter{Owner: owner, Statuses: pendingStatuses})
}

// SessionsOfAll returns the live and queued sessions of any of the
// owners (a workshop's learners), oldest first, in one read.
func (m *Manager) SessionsOfAll(ctx context.Context, owners []string) ([]Session, error) {
	if len(owners) == 0 {
		return nil, nil
	}
	return m.sessions(ctx, Filter{Owners: owners, Statuses: pendingStatuses})
}

func (m *Manager) sessions(ctx context.Context, f Filter) ([]Session, error) {
	rs, err := m.o.Store.ListSandboxSessions(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s%v: %w", f.Owner, f.Owners, err)
	}
	out := make([]Session, 0, len(rs))
	for _, r := range rs {
		s, err := m.session(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func terminal(status string) bool {
	return status == StatusEnded || status == StatusExpired || status == StatusFailed
}

// finish moves a session to a terminal status and queues its sandbox for
// deletion. A session that is already over (or no longer meets cond) is
// left alone and finish returns nil.
func (m *Manager) finish(ctx context.Context, id, status, reason string, cond FinishIf) error {
	r, err := m.o.Store.FinishSandboxSession(ctx, id, status, reason, cond)
	if errors.Is(err, ErrStale) {
		return nil
	}
	if err != nil {
		return err
	}
	m.forget(id)
	m.emitStatus(r, 0)
	m.destroy(r.SandboxID)
	m.wake()
	return nil
}

// End ends a session and deletes its sandbox. Ending an ended session is a no-op.
func (m *Manager) End(ctx context.Context, id string) error {
	return m.finish(ctx, id, StatusEnded, ReasonEnded, FinishIf{})
}

// Reset replaces the session's sandbox with a fresh one (setup included) for
// the same session id. The expiry is kept, unless less than a minute is left.
func (m *Manager) Reset(ctx context.Context, id string) (Session, error) {
	r, old, err := m.o.Store.ResetSandboxSession(ctx, id, newID(), m.o.Now(), m.o.TTL, m.o.MaxTTL)
	if errors.Is(err, ErrStale) {
		return Session{}, fmt.Errorf("reset session %s: %w", id, ErrNotReady)
	}
	if err != nil {
		return Session{}, err
	}
	m.forget(id)
	m.destroy(old)
	m.emit(Event{Session: id, Type: EventReset, Message: "the sandbox is being reset"})
	m.goProvision(r, fromCreate)
	return toSession(r), nil
}

// MaxTTL is the longest lifetime a session may reach.
func (m *Manager) MaxTTL() time.Duration { return m.o.MaxTTL }

// Extend pushes the expiry by ExtendBy, capped at CreatedAt+MaxTTL
// (ErrExtendLimit once the cap is reached).
func (m *Manager) Extend(ctx context.Context, id string) (Session, error) {
	r, err := m.o.Store.ExtendSandboxSession(ctx, id, m.o.ExtendBy, m.o.MaxTTL)
	if err != nil {
		return Session{}, err
	}
	m.mu.Lock()
	w := m.warned[id]
	w.ttl = false
	m.warned[id] = w
	m.mu.Unlock()
	return toSession(r), nil
}

// Sandbox returns the ready session's sandbox with the learner's credentials
// (ErrNotFound, or ErrNotReady while it is being made).
func (m *Manager) Sandbox(ctx context.Context, id string) (*Sandbox, error) {
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case terminal(r.Status):
		return nil, fmt.Errorf("session %s is %s: %w", id, r.Status, ErrNotFound)
	case r.Status != StatusReady:
		return nil, ErrNotReady
	}
	sb, err := m.o.Provisioner.Get(ctx, r.SandboxID)
	if err != nil {
		return nil, fmt.Errorf("get sandbox of session %s: %w", id, err)
	}
	sb.ExpiresAt = r.ExpiresAt // the store, not the backend, knows extensions
	return sb, nil
}

// touchEvery is how often activity is written for one session: often enough
// that idle expiry never ends a working learner, rarely enough that typing
// costs no database load.
func (m *Manager) touchEvery() time.Duration {
	return min(30*time.Second, m.o.IdleTTL/10)
}

// Touch records the learner's activity on a session (terminal input, page
// interaction, API calls), postponing idle expiry and cancelling an idle
// warning. Writes are throttled; errors are logged, since activity tracking
// must never fail a request.
func (m *Manager) Touch(ctx context.Context, id string) {
	if m.o.IdleTTL <= 0 {
		return
	}
	now := m.o.Now()
	m.mu.Lock()
	due := now.Sub(m.touched[id]) >= m.touchEvery()
	if due {
		m.touched[id] = now
	}
	w := m.warned[id]
	wasWarned := w.idle
	w.idle = false
	m.warned[id] = w
	m.mu.Unlock()
	if due || wasWarned { // a cancelled warning must reach the store before the reaper looks again
		if err := m.o.Store.TouchSandboxSession(ctx, id, now); err != nil {
			m.log.Warn("record activity", "session_id", id, "err", err)
		}
	}
	if wasWarned {
		m.emit(Event{Session: id, Type: EventActive})
	}
}

// forget drops the in-memory bookkeeping of a session that ended or restarted.
func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.warned, id)
	delete(m.touched, id)
	m.mu.Unlock()
}
