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

// source is where a session's sandbox comes from.
type source int

const (
	fromCreate   source = iota // made for the session
	fromPool                   // a warm sandbox claimed; the chapter's setup still runs
	fromPrepared               // a warm sandbox made for the chapter, its setup already run
)

func (s source) String() string {
	return [...]string{"cold", "pool", "prepared"}[s]
}

// poolKey names the warm sandboxes prepared for one chapter; plain warm
// sandboxes are pooled by their size class alone.
func poolKey(class, chapter string) string { return class + "/" + chapter }

// poolable: a warm sandbox can serve the chapter.
func (ch ChapterSpec) poolable() bool {
	return len(ch.Namespaces) == 0 && len(ch.Nodes) == 0 && len(ch.Clusters) == 0
}

// goProvision makes r's sandbox in the background: a claim of the warm
// sandbox r.SandboxID when it comes from the pool, else a create; then the
// chapter's setup unless it ran already. The channel closes when it is done.
func (m *Manager) goProvision(r Record, src source) <-chan struct{} {
	m.mu.Lock()
	m.local[r.SandboxID] = true
	m.mu.Unlock()
	done := make(chan struct{})
	m.goTracked(func() {
		defer close(done)
		m.provision(r, src)
	})
	return done
}

// provision makes r's sandbox, runs the chapter's setup and marks the
// session ready — each outcome a conditional change, so a session that was
// ended or reset meanwhile keeps its new state and the sandbox made for it
// is deleted.
func (m *Manager) provision(r Record, src source) {
	ctx, cancel := context.WithTimeout(m.life, provisionTimeout)
	defer cancel()
	log := m.log.With("session_id", r.ID, "sandbox_id", r.SandboxID)
	m.emitStatus(r, 0)
	var sb *Sandbox
	var err error
	if src != fromCreate {
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
			src = fromCreate
		}
	}
	if src == fromCreate {
		sb, err = m.o.Provisioner.Create(ctx, r.SandboxID, m.spec(r))
	}
	if err != nil {
		m.fail(r, ReasonCreateFailed, err, log)
		return
	}
	if m.o.Prepare != nil && src != fromPrepared {
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
	m.m.ready.WithLabelValues(src.String()).Observe(ready.ReadyAt.Sub(ready.CreatedAt).Seconds())
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

// refill tops up the warm pool in the background: PoolSize plain warm
// sandboxes per size class, and as many prepared for each chapter of
// Prepared.
func (m *Manager) refill() {
	if !m.canClaim || m.life.Err() != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fill := func(key string, want int, spec Spec) {
		for len(m.pool[key])+m.filling[key] < want {
			m.filling[key]++
			id := newID()
			m.local[id] = true
			m.goTracked(func() { m.createWarm(key, id, spec) })
		}
	}
	extraPrepared, extraPlain := map[string]int{}, map[string]int{}
	for _, e := range m.extraWarm {
		if m.isPrepared(e.chapter.ID) {
			extraPrepared[e.chapter.ID] += e.n
		} else {
			extraPlain[m.classOf(e.chapter)] += e.n
		}
	}
	for size, want := range m.o.PoolSize {
		fill(size, want+extraPlain[size], Spec{Size: size})
	}
	for size, n := range extraPlain {
		if _, ok := m.o.PoolSize[size]; !ok {
			fill(size, n, Spec{Size: size})
		}
	}
	for _, ch := range m.o.Prepared {
		class := m.classOf(ch)
		if ch.poolable() {
			fill(poolKey(class, ch.ID), m.o.PoolSize[class]+extraPrepared[ch.ID], Spec{Size: class, Chapter: ch.ID})
		}
	}
}

type extraWarm struct {
	chapter ChapterSpec
	n       int
}

func (m *Manager) isPrepared(id string) bool {
	for _, ch := range m.o.Prepared {
		if ch.ID == id && ch.poolable() {
			return true
		}
	}
	return false
}

// Warm asks, under key (one per asker: a workshop), for n warm sandboxes
// of the chapter on top of the pool: prepared for it when the chapter has
// a setup, plain ones of its size otherwise. n = 0 withdraws the ask; a
// chapter that cannot come from the pool is ignored. Warm sandboxes stay
// warm until claimed or kubelab stops.
func (m *Manager) Warm(key string, ch ChapterSpec, n int) {
	if !ch.poolable() {
		n = 0
	}
	m.mu.Lock()
	if n <= 0 {
		delete(m.extraWarm, key)
	} else {
		m.extraWarm[key] = extraWarm{chapter: ch, n: n}
	}
	m.mu.Unlock()
	m.refill()
}

// WarmReady reports how many warm sandboxes wait that a start of the
// chapter would claim.
func (m *Manager) WarmReady(ch ChapterSpec) int {
	if !ch.poolable() {
		return 0
	}
	class := m.classOf(ch)
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pool[poolKey(class, ch.ID)]) + len(m.pool[class])
}

// WarmTime is how long making a warm sandbox took lately (a moving
// average; 0 before the first).
func (m *Manager) WarmTime() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.warmTook
}

// createWarm makes a warm sandbox for the pool key, and runs its chapter's
// setup when spec names one.
func (m *Manager) createWarm(key, id string, spec Spec) {
	ctx, cancel := context.WithTimeout(m.life, provisionTimeout)
	defer cancel()
	began := time.Now()
	sb, err := m.o.Provisioner.Create(ctx, id, spec)
	if err == nil && spec.Chapter != "" && m.o.Prepare != nil {
		err = m.o.Prepare(ctx, Session{ID: "warm-" + id, Chapter: spec.Chapter}, sb)
	}
	m.mu.Lock()
	m.filling[key]--
	if err == nil {
		m.pool[key] = append(m.pool[key], id)
		took := time.Since(began)
		if m.warmTook == 0 {
			m.warmTook = took
		}
		m.warmTook = (m.warmTook*7 + took) / 8
	}
	m.mu.Unlock()
	if err != nil && m.life.Err() == nil {
		m.log.Warn("create warm sandbox", "pool", key, "err", err)
		m.destroy(id)
	}
}

// PreparedReady reports how many warm sandboxes prepared for the chapter
// wait for a claim.
func (m *Manager) PreparedReady(ch ChapterSpec) int {
	return m.PoolReady(poolKey(m.classOf(ch), ch.ID))
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
