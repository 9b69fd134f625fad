package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// provisionTimeout bounds one create (or claim) plus the chapter's setup.
const provisionTimeout = 5 * time.Minute

func (m *Manager) spec(r Record) Spec {
	return Spec{
		Owner: r.Owner, Session: r.ID, Chapter: r.Chapter, Size: r.Size, Namespaces: r.Extra, Nodes: r.Nodes, Clusters: r.Clusters,
		TTL:      r.ExpiresAt.Sub(m.o.Now()),
		Progress: func(step string) { m.progress(r.ID, step) },
	}
}

// goProvision makes r's sandbox in the background: a claim of the warm
// sandbox r.SandboxID when pooled, else a create; then the chapter's setup.
func (m *Manager) goProvision(r Record, pooled bool) {
	m.mu.Lock()
	m.local[r.SandboxID] = true
	m.mu.Unlock()
	m.goTracked(func() { m.provision(r, pooled) })
}

// provision makes r's sandbox, runs the chapter's setup and marks the
// session ready — each outcome a conditional change, so a session that was
// ended or reset meanwhile keeps its new state and the sandbox made for it
// is deleted.
func (m *Manager) provision(r Record, pooled bool) {
	ctx, cancel := context.WithTimeout(m.life, provisionTimeout)
	defer cancel()
	log := m.log.With("session_id", r.ID, "sandbox_id", r.SandboxID)
	m.emitStatus(r, 0)
	source := "cold"
	var sb *Sandbox
	var err error
	if pooled {
		source = "pool"
		sb, err = m.claimer.Claim(ctx, r.SandboxID, m.spec(r))
		if err != nil && m.life.Err() == nil {
			log.Warn("claim warm sandbox; creating one", "err", err)
			m.destroy(r.SandboxID)
			if r, err = m.o.Store.ReplaceSessionSandbox(ctx, r.ID, r.SandboxID, newID()); err != nil {
				m.abandon(r.SandboxID, err, log)
				return
			}
			m.mu.Lock()
			m.local[r.SandboxID] = true
			m.mu.Unlock()
			pooled, source = false, "cold"
		}
	}
	if !pooled {
		sb, err = m.o.Provisioner.Create(ctx, r.SandboxID, m.spec(r))
	}
	if err != nil {
		m.fail(r, ReasonCreateFailed, err, log)
		return
	}
	if m.o.Prepare != nil {
		m.progress(r.ID, "setup")
		if err := m.o.Prepare(ctx, toSession(r), sb); err != nil {
			m.fail(r, ReasonSetupFailed, err, log.With("step", "setup"))
			return
		}
	}
	ready, err := m.o.Store.SetSessionReady(ctx, r.ID, r.SandboxID, sb.Namespace, sb.Namespaces, m.o.Now())
	m.mu.Lock()
	delete(m.local, r.SandboxID)
	m.mu.Unlock()
	if err != nil {
		m.abandon(r.SandboxID, err, log)
		return
	}
	m.m.ready.WithLabelValues(source).Observe(ready.ReadyAt.Sub(ready.CreatedAt).Seconds())
	m.progress(r.ID, "ready")
	m.emitStatus(ready, 0)
}

// fail records a failed create or setup, unless the session moved on.
func (m *Manager) fail(r Record, reason string, cause error, log *slog.Logger) {
	if m.life.Err() != nil {
		return // shutting down: the row stays provisioning and the next Run's reconcile retries it
	}
	m.destroy(r.SandboxID)
	failed, err := m.o.Store.FailSession(m.life, r.ID, r.SandboxID, []string{StatusProvisioning}, reason)
	if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
		return // ended or reset meanwhile: this sandbox no longer matters
	}
	if err != nil {
		log.Error("record failed session", "err", err, "cause", cause)
		return
	}
	log.Warn("lab session failed", "err", cause)
	m.emitStatus(failed, 0)
	m.wake()
}

// abandon deletes a sandbox whose session moved on while it was being made.
func (m *Manager) abandon(sandboxID string, err error, log *slog.Logger) {
	if !errors.Is(err, ErrStale) && !errors.Is(err, ErrNotFound) && m.life.Err() == nil {
		log.Error("record sandbox", "err", err)
	}
	if m.life.Err() == nil {
		m.destroy(sandboxID)
	}
}

// takeWarm pops a warm sandbox of the size class into *id.
func (m *Manager) takeWarm(size string, id *string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.pool[size]
	if len(ids) == 0 {
		return false
	}
	*id, m.pool[size] = ids[0], ids[1:]
	return true
}

// returnWarm puts back a warm sandbox that Start did not use.
func (m *Manager) returnWarm(size, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pool[size] = append(m.pool[size], id)
}

// refill tops up the warm pool in the background.
func (m *Manager) refill() {
	if !m.canClaim || m.life.Err() != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for size, want := range m.o.PoolSize {
		for len(m.pool[size])+m.filling[size] < want {
			m.filling[size]++
			id := newID()
			m.local[id] = true
			m.goTracked(func() { m.createWarm(size, id) })
		}
	}
}

func (m *Manager) createWarm(size, id string) {
	ctx, cancel := context.WithTimeout(m.life, provisionTimeout)
	defer cancel()
	_, err := m.o.Provisioner.Create(ctx, id, Spec{Size: size})
	m.mu.Lock()
	m.filling[size]--
	if err == nil {
		m.pool[size] = append(m.pool[size], id)
	}
	m.mu.Unlock()
	if err != nil && m.life.Err() == nil {
		m.log.Warn("create warm sandbox", "size", size, "err", err)
		m.destroy(id)
	}
}

// PoolReady reports how many warm sandboxes of a size class wait for a claim.
func (m *Manager) PoolReady(size string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pool[size])
}

// destroy queues a sandbox for deletion in the background.
func (m *Manager) destroy(id string) {
	if id == "" {
		return
	}
	m.mu.Lock()
	delete(m.local, id)
	m.mu.Unlock()
	m.destroys.add(id)
}
