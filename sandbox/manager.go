package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// More errors the Manager returns; test them with errors.Is.
var (
	ErrNotReady    = errors.New("sandbox not ready")
	ErrExtendLimit = errors.New("session cannot be extended further")
)

// Session statuses.
const (
	StatusProvisioning = "provisioning"
	StatusQueued       = "queued"
	StatusReady        = "ready"
	StatusFailed       = "failed"
	StatusExpired      = "expired"
	StatusEnded        = "ended"
)

// Event types.
const (
	EventProgress = "progress"
	EventStatus   = "status"
	EventExpiring = "expiring"
)

// ChapterSpec is what the Manager needs to know of a chapter.
type ChapterSpec struct {
	ID         string
	Size       string
	Namespaces []string
}

// Session is a learner's chapter session as callers see it.
type Session struct {
	ID         string
	Owner      string
	Chapter    string
	Status     string
	Position   int // 1-based place in the queue while queued
	Reason     string
	Backend    string
	Namespace  string
	Namespaces map[string]string
	Simulated  bool
	CreatedAt  time.Time
	ReadyAt    time.Time
	ExpiresAt  time.Time
}

// Event reports progress or a status change of a session.
type Event struct {
	Session string
	Type    string // EventProgress, EventStatus or EventExpiring
	Step    string
	Message string
	Status  string
	Time    time.Time
}

// Record is a session's row in the store.
type Record struct {
	ID         string
	Owner      string
	Chapter    string
	Size       string
	Extra      []string // extra namespaces the chapter asks for (logical names)
	Status     string
	Reason     string
	Backend    string
	SandboxID  string // the provisioner's id; changes on reset
	Namespace  string
	Namespaces map[string]string
	Simulated  bool
	CreatedAt  time.Time
	ReadyAt    time.Time
	ExpiresAt  time.Time
	ActiveAt   time.Time
}

// Filter selects records in Store.ListSandboxSessions. Empty fields match all.
type Filter struct {
	Owner    string
	Chapter  string
	Statuses []string
}

// Store keeps session records. server/store implements it. Get returns an
// error wrapping ErrNotFound for a missing id; List orders by CreatedAt, ID.
type Store interface {
	InsertSandboxSession(ctx context.Context, r Record) error
	GetSandboxSession(ctx context.Context, id string) (Record, error)
	UpdateSandboxSession(ctx context.Context, r Record) error
	ListSandboxSessions(ctx context.Context, f Filter) ([]Record, error)
}

// Claimer is implemented by provisioners that keep warm, unowned sandboxes:
// Claim binds a sandbox created with an empty Spec.Owner to spec's owner,
// session and chapter and returns it with the learner's credentials.
type Claimer interface {
	Claim(ctx context.Context, id string, spec Spec) (*Sandbox, error)
}

// ManagerOptions configure a Manager. Zero values get the defaults noted.
type ManagerOptions struct {
	Provisioner Provisioner
	Store       Store
	Log         *slog.Logger
	Events      func(Event) // called synchronously; must not block for long
	Backend     string      // "namespaced" (default) or "kind"
	Simulated   bool
	TTL         time.Duration  // lifetime of a session; default 1h
	MaxTTL      time.Duration  // extend cap measured from creation; default 4h
	ExtendBy    time.Duration  // default 30m
	IdleTTL     time.Duration  // 0: no idle expiry
	MaxPerUser  int            // live sessions per owner; default 3
	MaxTotal    int            // live sessions overall; further starts queue; default 200
	PoolSize    map[string]int // warm sandboxes per size class (needs a Claimer)
	Tick        time.Duration  // reaper and queue period; default 1s
	WarnBefore  time.Duration  // "expiring" event this long before expiry; default 5m
	Registerer  prometheus.Registerer
	Now         func() time.Time
}

// Manager owns every session's lifecycle: admission and queue, provisioning
// in the background, warm pool, expiry and reconciliation at start.
type Manager struct {
	o    ManagerOptions
	log  *slog.Logger
	life context.Context
	stop context.CancelFunc

	mu       sync.Mutex // serialises admission decisions
	pool     map[string][]string
	filling  map[string]int
	warned   map[string]bool
	kick     chan struct{}
	wg       sync.WaitGroup
	m        metrics
	claimer  Claimer
	canClaim bool
	local    map[string]bool // sandbox ids this process is creating or pooling; reconcile leaves them alone
}

type metrics struct {
	ready    *prometheus.HistogramVec
	poolHit  prometheus.Counter
	poolMiss prometheus.Counter
	state    *prometheus.GaugeVec
	queue    prometheus.Gauge
}

// NewManager returns a Manager; call Run to start its background work.
func NewManager(o ManagerOptions) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Backend == "" {
		o.Backend = "namespaced"
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.MaxTTL < o.TTL {
		o.MaxTTL = max(4*time.Hour, o.TTL)
	}
	if o.ExtendBy <= 0 {
		o.ExtendBy = 30 * time.Minute
	}
	if o.MaxPerUser <= 0 {
		o.MaxPerUser = 3
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = 200
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.WarnBefore <= 0 {
		o.WarnBefore = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	life, stop := context.WithCancel(context.Background())
	m := &Manager{
		o: o, log: o.Log, life: life, stop: stop,
		pool: map[string][]string{}, filling: map[string]int{}, warned: map[string]bool{}, local: map[string]bool{},
		kick: make(chan struct{}, 1),
	}
	m.claimer, m.canClaim = o.Provisioner.(Claimer)
	m.m = metrics{
		ready: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kubelab_sandbox_time_to_ready_seconds", Help: "Time from start to a ready sandbox.",
			Buckets: []float64{.01, .025, .05, .1, .2, .3, .5, 1, 2, 5, 10, 30, 60, 120},
		}, []string{"source"}),
		poolHit:  prometheus.NewCounter(prometheus.CounterOpts{Name: "kubelab_sandbox_pool_hits_total", Help: "Starts served from the warm pool."}),
		poolMiss: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubelab_sandbox_pool_misses_total", Help: "Starts that found the warm pool empty."}),
		state:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubelab_sandboxes", Help: "Sessions by state."}, []string{"state"}),
		queue:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubelab_sandbox_queue_length", Help: "Sessions waiting for capacity."}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.m.ready, m.m.poolHit, m.m.poolMiss, m.m.state, m.m.queue} {
			if err := o.Registerer.Register(c); err != nil {
				m.log.Warn("register sandbox metric", "err", err)
			}
		}
	}
	return m
}

var liveStatuses = []string{StatusProvisioning, StatusReady}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *Manager) emit(ev Event) {
	if m.o.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = m.o.Now()
	}
	m.o.Events(ev)
}

func (m *Manager) status(r Record) {
	m.emit(Event{Session: r.ID, Type: EventStatus, Status: r.Status, Message: r.Reason})
}

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) toSession(ctx context.Context, r Record) (Session, error) {
	s := Session{
		ID: r.ID, Owner: r.Owner, Chapter: r.Chapter, Status: r.Status, Reason: r.Reason,
		Backend: r.Backend, Namespace: r.Namespace, Namespaces: r.Namespaces, Simulated: r.Simulated,
		CreatedAt: r.CreatedAt, ReadyAt: r.ReadyAt, ExpiresAt: r.ExpiresAt,
	}
	if r.Status == StatusQueued {
		q, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: []string{StatusQueued}})
		if err != nil {
			return s, fmt.Errorf("list queue: %w", err)
		}
		for i, x := range q {
			if x.ID == r.ID {
				s.Position = i + 1
			}
		}
	}
	return s, nil
}

// Start starts or resumes owner's live session for the chapter. It returns
// at once: ready (claimed from the pool), provisioning, queued with its
// position, or failed. Provisioning continues under the Manager's lifetime.
// It returns ErrCapacity when owner already holds MaxPerUser sessions.
func (m *Manager) Start(ctx context.Context, owner string, ch ChapterSpec) (Session, error) {
	m.mu.Lock()
	locked := true
	defer func() {
		if locked {
			m.mu.Unlock()
		}
	}()
	mine, err := m.o.Store.ListSandboxSessions(ctx, Filter{Owner: owner, Statuses: []string{StatusProvisioning, StatusReady, StatusQueued}})
	if err != nil {
		return Session{}, fmt.Errorf("list sessions of %s: %w", owner, err)
	}
	for _, r := range mine {
		if r.Chapter == ch.ID {
			return m.toSession(ctx, r)
		}
	}
	if len(mine) >= m.o.MaxPerUser {
		return Session{}, fmt.Errorf("%s holds %d sessions: %w", owner, len(mine), ErrCapacity)
	}
	live, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: liveStatuses})
	if err != nil {
		return Session{}, fmt.Errorf("list live sessions: %w", err)
	}
	now := m.o.Now()
	r := Record{
		ID: newID(), Owner: owner, Chapter: ch.ID, Size: ch.Size, Extra: ch.Namespaces,
		Backend: m.o.Backend, Simulated: m.o.Simulated, CreatedAt: now, ActiveAt: now,
		ExpiresAt: now.Add(m.o.TTL), Status: StatusProvisioning,
	}
	if len(live) >= m.o.MaxTotal {
		r.Status = StatusQueued
		if err := m.o.Store.InsertSandboxSession(ctx, r); err != nil {
			return Session{}, fmt.Errorf("insert session: %w", err)
		}
		m.updateQueueGauge(ctx)
		return m.toSession(ctx, r)
	}
	var poolID string
	if m.canClaim && len(ch.Namespaces) == 0 {
		if ids := m.pool[ch.Size]; len(ids) > 0 {
			poolID, m.pool[ch.Size] = ids[0], ids[1:]
		}
	}
	r.SandboxID = poolID
	if poolID == "" {
		r.SandboxID = newID()
	}
	if err := m.o.Store.InsertSandboxSession(ctx, r); err != nil {
		if poolID != "" {
			m.pool[ch.Size] = append(m.pool[ch.Size], poolID)
		}
		return Session{}, fmt.Errorf("insert session: %w", err)
	}
	m.mu.Unlock()
	locked = false
	m.wake() // refill the pool
	if poolID != "" {
		m.m.poolHit.Inc()
		cctx, cancel := context.WithTimeout(m.life, 30*time.Second)
		defer cancel()
		sb, err := m.claimer.Claim(cctx, poolID, m.spec(r))
		if err == nil {
			r = m.markReady(cctx, r, sb, "pool")
			return m.toSession(ctx, r)
		}
		m.log.Warn("claim warm sandbox; creating one", "session_id", r.ID, "err", err)
		m.destroy(poolID)
		r.SandboxID = newID()
		if err := m.o.Store.UpdateSandboxSession(cctx, r); err != nil {
			return Session{}, fmt.Errorf("update session %s: %w", r.ID, err)
		}
	} else if m.canClaim && m.o.PoolSize[ch.Size] > 0 && len(ch.Namespaces) == 0 {
		m.m.poolMiss.Inc()
	}
	m.goProvision(r)
	return m.toSession(ctx, r)
}

func (m *Manager) spec(r Record) Spec {
	return Spec{
		Owner: r.Owner, Session: r.ID, Chapter: r.Chapter, Size: r.Size, Namespaces: r.Extra,
		TTL:      r.ExpiresAt.Sub(m.o.Now()),
		Progress: func(step string) { m.emit(Event{Session: r.ID, Type: EventProgress, Step: step, Message: step}) },
	}
}

func (m *Manager) goProvision(r Record) {
	m.mu.Lock()
	m.local[r.SandboxID] = true
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.provision(r)
	}()
}

// provision creates r's sandbox and records the outcome.
func (m *Manager) provision(r Record) {
	ctx, cancel := context.WithTimeout(m.life, 5*time.Minute)
	defer cancel()
	m.status(r)
	sb, err := m.o.Provisioner.Create(ctx, r.SandboxID, m.spec(r))
	if err != nil {
		if m.life.Err() != nil {
			return // shutting down: the row stays provisioning and Run's reconcile retries it
		}
		m.destroy(r.SandboxID)
		m.mu.Lock()
		cur, gerr := m.o.Store.GetSandboxSession(m.life, r.ID)
		if gerr != nil || cur.Status != StatusProvisioning || cur.SandboxID != r.SandboxID {
			m.mu.Unlock()
			return // ended or reset meanwhile: this create no longer matters
		}
		m.log.Warn("create sandbox", "session_id", r.ID, "err", err)
		cur.Status, cur.Reason = StatusFailed, "could not create the sandbox: "+err.Error()
		if err := m.o.Store.UpdateSandboxSession(m.life, cur); err != nil {
			m.log.Error("record failed session", "session_id", r.ID, "err", err)
		}
		m.mu.Unlock()
		m.status(cur)
		m.wake()
		return
	}
	// The session may have been ended or reset while we were creating.
	cur, err := m.o.Store.GetSandboxSession(ctx, r.ID)
	if err != nil || cur.Status != StatusProvisioning || cur.SandboxID != r.SandboxID {
		m.destroy(r.SandboxID)
		return
	}
	m.markReady(ctx, cur, sb, "cold")
}

func (m *Manager) markReady(ctx context.Context, r Record, sb *Sandbox, source string) Record {
	r.Status, r.Reason = StatusReady, ""
	r.Namespace, r.Namespaces = sb.Namespace, sb.Namespaces
	r.ReadyAt = m.o.Now()
	if err := m.o.Store.UpdateSandboxSession(ctx, r); err != nil {
		m.log.Error("record ready session", "session_id", r.ID, "err", err)
	}
	m.m.ready.WithLabelValues(source).Observe(r.ReadyAt.Sub(r.CreatedAt).Seconds())
	m.emit(Event{Session: r.ID, Type: EventProgress, Step: "ready", Message: "ready"})
	m.status(r)
	return r
}

// destroy deletes a sandbox in the background of the Manager's lifetime.
func (m *Manager) destroy(id string) {
	if id == "" {
		return
	}
	m.mu.Lock()
	delete(m.local, id)
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.life), time.Minute)
	defer cancel()
	if err := m.o.Provisioner.Destroy(ctx, id); err != nil {
		m.log.Warn("destroy sandbox", "sandbox_id", id, "err", err)
	}
}

// Session returns a session by id (ErrNotFound if none).
func (m *Manager) Session(ctx context.Context, id string) (Session, error) {
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil {
		return Session{}, err
	}
	return m.toSession(ctx, r)
}

// SessionsOf returns the owner's live and queued sessions, oldest first.
func (m *Manager) SessionsOf(ctx context.Context, owner string) ([]Session, error) {
	rs, err := m.o.Store.ListSandboxSessions(ctx, Filter{Owner: owner, Statuses: []string{StatusProvisioning, StatusReady, StatusQueued}})
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", owner, err)
	}
	out := make([]Session, 0, len(rs))
	for _, r := range rs {
		s, err := m.toSession(ctx, r)
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

// finish moves a session to a terminal status and deletes its sandbox.
func (m *Manager) finish(ctx context.Context, id, status, reason string) error {
	m.mu.Lock()
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if terminal(r.Status) {
		m.mu.Unlock()
		return nil
	}
	r.Status, r.Reason = status, reason
	err = m.o.Store.UpdateSandboxSession(ctx, r)
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("update session %s: %w", id, err)
	}
	m.mu.Lock()
	delete(m.warned, id)
	m.mu.Unlock()
	m.status(r)
	m.destroy(r.SandboxID)
	m.wake()
	return nil
}

// End ends a session and deletes its sandbox. Ending an ended session is a no-op.
func (m *Manager) End(ctx context.Context, id string) error {
	return m.finish(ctx, id, StatusEnded, "ended by the learner")
}

// Reset destroys the session's sandbox and creates a fresh one for the same
// session id; the expiry is kept.
func (m *Manager) Reset(ctx context.Context, id string) (Session, error) {
	m.mu.Lock()
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil {
		m.mu.Unlock()
		return Session{}, err
	}
	if r.Status != StatusReady && r.Status != StatusProvisioning && r.Status != StatusFailed {
		m.mu.Unlock()
		return Session{}, fmt.Errorf("reset session %s (%s): %w", id, r.Status, ErrNotReady)
	}
	old := r.SandboxID
	r.SandboxID, r.Status, r.Reason = newID(), StatusProvisioning, ""
	r.Namespace, r.Namespaces, r.ReadyAt = "", nil, time.Time{}
	if r.ExpiresAt.Before(m.o.Now().Add(time.Minute)) {
		r.ExpiresAt = m.o.Now().Add(m.o.TTL)
	}
	err = m.o.Store.UpdateSandboxSession(ctx, r)
	m.mu.Unlock()
	if err != nil {
		return Session{}, fmt.Errorf("update session %s: %w", id, err)
	}
	m.destroy(old)
	m.goProvision(r)
	return m.toSession(ctx, r)
}

// Extend pushes the expiry by ExtendBy, capped at CreatedAt+MaxTTL
// (ErrExtendLimit once the cap is reached).
func (m *Manager) Extend(ctx context.Context, id string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if terminal(r.Status) {
		return Session{}, fmt.Errorf("extend session %s (%s): %w", id, r.Status, ErrNotFound)
	}
	limit := r.CreatedAt.Add(m.o.MaxTTL)
	if !r.ExpiresAt.Before(limit) {
		return Session{}, ErrExtendLimit
	}
	r.ExpiresAt = r.ExpiresAt.Add(m.o.ExtendBy)
	if r.ExpiresAt.After(limit) {
		r.ExpiresAt = limit
	}
	if err := m.o.Store.UpdateSandboxSession(ctx, r); err != nil {
		return Session{}, fmt.Errorf("update session %s: %w", id, err)
	}
	delete(m.warned, id)
	return m.toSession(ctx, r)
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

// Touch records activity on a session, postponing idle expiry. Errors are
// logged: activity tracking must never fail a request.
func (m *Manager) Touch(ctx context.Context, id string) {
	if m.o.IdleTTL <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.o.Store.GetSandboxSession(ctx, id)
	if err != nil || terminal(r.Status) {
		return
	}
	now := m.o.Now()
	if now.Sub(r.ActiveAt) < time.Second {
		return
	}
	r.ActiveAt = now
	if err := m.o.Store.UpdateSandboxSession(ctx, r); err != nil {
		m.log.Warn("touch session", "session_id", id, "err", err)
	}
}

// Run reconciles the backend with the store, then refills the pool, drains
// the queue and reaps expired sessions until ctx ends. Background creates
// are cancelled when Run returns.
func (m *Manager) Run(ctx context.Context) error {
	defer func() {
		m.stop()
		m.wg.Wait()
	}()
	if err := m.reconcile(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reconcile sandboxes: %w", err)
	}
	t := time.NewTicker(m.o.Tick)
	defer t.Stop()
	for {
		m.step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
	}
}

func (m *Manager) step(ctx context.Context) {
	if err := m.reap(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("reap sandboxes", "err", err)
	}
	if err := m.drain(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("drain queue", "err", err)
	}
	m.refill()
	m.updateQueueGauge(ctx)
}

// reconcile makes the backend and the store agree after a restart or crash.
func (m *Manager) reconcile(ctx context.Context) error {
	ids, err := m.o.Provisioner.List(ctx)
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	m.log.Debug("reconcile", "sandboxes", ids)
	live, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: liveStatuses})
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	m.mu.Lock()
	byID := maps.Clone(m.local)
	m.mu.Unlock()
	for _, r := range live {
		byID[r.SandboxID] = true
	}
	for _, id := range ids {
		if !byID[id] {
			m.log.Info("delete orphan sandbox", "sandbox_id", id)
			m.destroy(id)
		}
	}
	for _, r := range live {
		m.mu.Lock()
		mine := m.local[r.SandboxID]
		m.mu.Unlock()
		if mine {
			continue // started by this process before Run
		}
		switch r.Status {
		case StatusProvisioning:
			// Half-made by a process that died: start over with a fresh id.
			m.destroy(r.SandboxID)
			r.SandboxID = newID()
			if err := m.o.Store.UpdateSandboxSession(ctx, r); err != nil {
				return fmt.Errorf("update session %s: %w", r.ID, err)
			}
			m.log.Info("retry interrupted sandbox", "session_id", r.ID)
			m.goProvision(r)
		case StatusReady:
			if _, err := m.o.Provisioner.Get(ctx, r.SandboxID); errors.Is(err, ErrNotFound) {
				r.Status, r.Reason = StatusFailed, "the sandbox vanished"
				if err := m.o.Store.UpdateSandboxSession(ctx, r); err != nil {
					return fmt.Errorf("update session %s: %w", r.ID, err)
				}
				m.status(r)
			} else if err != nil {
				return fmt.Errorf("get sandbox %s: %w", r.SandboxID, err)
			}
		}
	}
	return nil
}

// reap expires sessions past their TTL or idle too long, and warns before.
func (m *Manager) reap(ctx context.Context) error {
	rs, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: []string{StatusProvisioning, StatusReady, StatusQueued}})
	if err != nil {
		return err
	}
	now := m.o.Now()
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Status]++
		switch {
		case !now.Before(r.ExpiresAt) && r.Status != StatusQueued:
			err = errors.Join(err, m.finish(ctx, r.ID, StatusExpired, "the session reached its time limit"))
		case m.o.IdleTTL > 0 && r.Status == StatusReady && now.Sub(r.ActiveAt) >= m.o.IdleTTL:
			err = errors.Join(err, m.finish(ctx, r.ID, StatusExpired, "the session was idle too long"))
		case r.Status == StatusReady && r.ExpiresAt.Sub(now) <= m.o.WarnBefore:
			m.mu.Lock()
			first := !m.warned[r.ID]
			m.warned[r.ID] = true
			m.mu.Unlock()
			if first {
				m.emit(Event{Session: r.ID, Type: EventExpiring, Time: r.ExpiresAt,
					Message: fmt.Sprintf("the sandbox expires in %s", r.ExpiresAt.Sub(now).Round(time.Second))})
			}
		}
	}
	for _, s := range []string{StatusProvisioning, StatusReady, StatusQueued} {
		m.m.state.WithLabelValues(s).Set(float64(counts[s]))
	}
	return err
}

// drain admits queued sessions, oldest first, while capacity allows.
func (m *Manager) drain(ctx context.Context) error {
	m.mu.Lock()
	admitted, err := m.admit(ctx)
	m.mu.Unlock()
	for _, r := range admitted { // after the unlock: goProvision takes m.mu
		m.goProvision(r)
	}
	return err
}

// admit moves queued sessions to provisioning while capacity allows; the
// caller holds m.mu and starts their creates.
func (m *Manager) admit(ctx context.Context) (admitted []Record, err error) {
	q, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: []string{StatusQueued}})
	if err != nil || len(q) == 0 {
		return nil, err
	}
	live, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: liveStatuses})
	if err != nil {
		return nil, err
	}
	free := m.o.MaxTotal - len(live)
	for i := 0; i < free && i < len(q); i++ {
		r := q[i]
		r.Status, r.SandboxID = StatusProvisioning, newID()
		now := m.o.Now()
		r.ExpiresAt, r.ActiveAt = now.Add(m.o.TTL), now
		if err := m.o.Store.UpdateSandboxSession(ctx, r); err != nil {
			return admitted, fmt.Errorf("admit session %s: %w", r.ID, err)
		}
		admitted = append(admitted, r)
	}
	if free > 0 { // those still waiting moved up
		for i := free; i < len(q); i++ {
			m.status(q[i])
		}
	}
	return admitted, nil
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
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				ctx, cancel := context.WithTimeout(m.life, 5*time.Minute)
				defer cancel()
				_, err := m.o.Provisioner.Create(ctx, id, Spec{Size: size})
				m.mu.Lock()
				m.filling[size]--
				if err == nil {
					m.pool[size] = append(m.pool[size], id)
				}
				m.mu.Unlock()
				if err != nil {
					if m.life.Err() == nil {
						m.log.Warn("create warm sandbox", "size", size, "err", err)
					}
					m.destroy(id)
				}
			}()
		}
	}
}

// PoolReady reports how many warm sandboxes of a size class wait for a claim.
func (m *Manager) PoolReady(size string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pool[size])
}

func (m *Manager) updateQueueGauge(ctx context.Context) {
	q, err := m.o.Store.ListSandboxSessions(ctx, Filter{Statuses: []string{StatusQueued}})
	if err == nil {
		m.m.queue.Set(float64(len(q)))
	}
}
