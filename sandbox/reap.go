package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// reconcile makes the backend and the store agree after a restart or crash:
// sandboxes no session owns are deleted, half-made ones are made again, and
// ready sessions whose sandbox vanished fail.
func (m *Manager) reconcile(ctx context.Context) error {
	live, local, err := m.sweepOrphans(ctx)
	if err != nil {
		return fmt.Errorf("reconcile sandboxes: %w", err)
	}
	for _, r := range live {
		if local[r.SandboxID] {
			continue // started by this process before Run
		}
		switch r.Status {
		case StatusProvisioning:
			// Half-made by a process that died: start over with a fresh id.
			fresh, err := m.o.Store.ReplaceSessionSandbox(ctx, r.ID, r.SandboxID, newID())
			if errors.Is(err, ErrStale) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reconcile sandboxes: %w", err)
			}
			m.destroy(r.SandboxID)
			m.log.Info("retry interrupted sandbox", "session_id", r.ID)
			m.goProvision(fresh, fromCreate)
		case StatusReady:
			_, err := m.o.Provisioner.Get(ctx, r.SandboxID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("reconcile sandboxes: get %s: %w", r.SandboxID, err)
			}
			if err == nil {
				// It lives on: whoever runs a ready session's live work
				// (grading, the shell) learns of it as at its start.
				m.emitStatus(r, 0)
				continue
			}
			failed, err := m.o.Store.FailSession(ctx, r.ID, r.SandboxID, []string{StatusReady}, ReasonVanished)
			if errors.Is(err, ErrStale) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reconcile sandboxes: %w", err)
			}
			m.log.Warn("sandbox of a ready session vanished", "session_id", r.ID, "sandbox_id", r.SandboxID)
			m.emitStatus(failed, 0)
		}
	}
	return nil
}

// idleWarning is how long before idle expiry the learner is warned.
func (m *Manager) idleWarning() time.Duration { return min(m.o.WarnBefore, m.o.IdleTTL/2) }

// reap expires sessions past their TTL or idle too long, and warns before.
// Expiry is conditional in the store, so activity recorded since the list
// was read keeps the session.
func (m *Manager) reap(ctx context.Context) error {
	rs, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: pendingStatuses})
	if err != nil {
		return err
	}
	now := m.o.Now()
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Status]++
		if r.Status == StatusQueued {
			continue
		}
		idleAt := r.ActiveAt.Add(m.o.IdleTTL)
		idle := m.o.IdleTTL > 0 && r.Status == StatusReady
		switch {
		case !now.Before(r.ExpiresAt):
			err = errors.Join(err, m.finish(ctx, r.ID, StatusExpired, ReasonTimeLimit, FinishIf{ExpiredBy: now}))
		case idle && !now.Before(idleAt):
			err = errors.Join(err, m.finish(ctx, r.ID, StatusExpired, ReasonIdle, FinishIf{IdleBefore: now.Add(-m.o.IdleTTL)}))
		default:
			m.warn(r, now, idle && idleAt.Sub(now) <= m.idleWarning(), idleAt)
		}
	}
	for _, s := range pendingStatuses {
		m.m.state.WithLabelValues(s).Set(float64(counts[s]))
	}
	m.m.queue.Set(float64(counts[StatusQueued]))
	return err
}

// warn sends each expiry warning once; Extend and Touch re-arm them.
func (m *Manager) warn(r Record, now time.Time, idleSoon bool, idleAt time.Time) {
	ttlSoon := r.Status == StatusReady && r.ExpiresAt.Sub(now) <= m.o.WarnBefore
	if !ttlSoon && !idleSoon {
		return
	}
	m.mu.Lock()
	w := m.warned[r.ID]
	sendTTL, sendIdle := ttlSoon && !w.ttl, idleSoon && !w.idle
	w.ttl, w.idle = w.ttl || ttlSoon, w.idle || idleSoon
	m.warned[r.ID] = w
	m.mu.Unlock()
	if sendTTL {
		m.emit(Event{Session: r.ID, Type: EventExpiring, Kind: ExpiryTTL, Time: r.ExpiresAt,
			Message: fmt.Sprintf("Your lab ends in %s. Extend it to keep working.", r.ExpiresAt.Sub(now).Round(time.Second))})
	}
	if sendIdle {
		m.emit(Event{Session: r.ID, Type: EventExpiring, Kind: ExpiryIdle, Time: idleAt,
			Message: fmt.Sprintf("Your lab ends in %s because nothing has happened in it for a while. Are you still there?", idleAt.Sub(now).Round(time.Second))})
	}
}

// drain admits queued sessions, oldest first, while capacity allows; those
// still waiting learn their new place.
func (m *Manager) drain(ctx context.Context) error {
	q, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: []string{StatusQueued}})
	if err != nil || len(q) == 0 {
		return err
	}
	admitted := 0
	for _, r := range q {
		now := m.o.Now()
		a, ok, err := m.o.Store.AdmitQueuedSession(ctx, r.ID, newID(), now, now.Add(m.o.TTL), m.o.MaxTotal)
		if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
			admitted++ // ended while queued: those behind it moved up all the same
			continue
		}
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		admitted++
		m.goProvision(a, fromCreate)
	}
	if admitted == 0 {
		return nil
	}
	for i, r := range q[admitted:] {
		m.emitStatus(r, i+1)
	}
	return nil
}

// sweepOrphans deletes the backend's sandboxes that no live session owns
// and this process is not making; it returns the live sessions and the
// sandboxes this process is making, as it saw them.
func (m *Manager) sweepOrphans(ctx context.Context) (live []Record, local map[string]bool, err error) {
	ids, err := m.o.Provisioner.List(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list backend: %w", err)
	}
	// The sessions are read after the backend: a sandbox made between the
	// two reads has its session already, or is local.
	live, err = m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: liveStatuses})
	if err != nil {
		return nil, nil, fmt.Errorf("list sessions: %w", err)
	}
	owned := map[string]bool{}
	for _, r := range live {
		owned[r.SandboxID] = true
	}
	m.mu.Lock()
	local = make(map[string]bool, len(m.local))
	for id := range m.local {
		local[id] = true
	}
	m.mu.Unlock()
	for _, id := range ids {
		if !owned[id] && !local[id] {
			m.log.Info("delete orphan sandbox", "sandbox_id", id)
			m.destroy(id)
		}
	}
	return live, local, nil
}
