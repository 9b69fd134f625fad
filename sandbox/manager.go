package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
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

// What learners read in a session's Reason: fixed sentences, never an error's
// text (the detail goes to the log, once).
const (
	ReasonCreateFailed = "Your lab environment could not be created. Try again in a minute; if it keeps failing, tell your instructor."
	ReasonSetupFailed  = "This chapter's lab could not be prepared. Press Reset to try again; if it keeps failing, please report it."
	ReasonVanished     = "Your lab environment was lost while kubelab restarted. Press Reset for a fresh one."
	ReasonEnded        = "You ended this lab."
	ReasonTimeLimit    = "The lab reached its time limit."
	ReasonIdle         = "The lab ended after a long time without activity."
)

// ChapterSpec is what the Manager needs to know of a chapter.
type ChapterSpec struct {
	ID         string
	Size       string
	Namespaces []string
	// Cluster asks for a cluster of the learner's own (size class
	// ClusterClass) with Nodes (nil: the provisioner's default layout),
	// and Clusters, further clusters of the learner's own by name.
	Cluster  bool
	Nodes    []string
	Clusters []string
	// TTL is the session's lifetime when it is not the manager's (a
	// workshop's); never beyond the manager's MaxTTL.
	TTL time.Duration
}

// Session is a learner's lab session (one chapter's sandbox) as callers see it.
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

// PrepareFunc runs a chapter's setup in a sandbox that has just become a
// learner's (fresh, claimed from the pool, or reset), before the session is
// ready. An error fails the session.
type PrepareFunc func(ctx context.Context, s Session, sb *Sandbox) error

// ManagerOptions configure a Manager. Zero values get the defaults noted.
type ManagerOptions struct {
	Provisioner Provisioner
	Store       Store
	Log         *slog.Logger
	Prepare     PrepareFunc // nil: nothing to set up
	Backend     string      // "namespaced" (default) or "kind"
	Simulated   bool
	// AllClusters: every sandbox is a cluster of its own (kind), so every
	// chapter has the size class ClusterClass and one pool serves all.
	AllClusters bool
	// ClusterBackend names the backend of ClusterClass sessions when
	// another provisioner makes them (default Backend).
	ClusterBackend string
	TTL            time.Duration  // lifetime of a session; default 1h
	MaxTTL         time.Duration  // extend cap measured from creation; default 4h
	ExtendBy       time.Duration  // default 30m
	IdleTTL        time.Duration  // 0: no idle expiry
	MaxPerUser     int            // live sessions per owner; default 3
	MaxTotal       int            // live sessions overall; further starts queue; default 200
	MaxGuests      int            // live and queued sessions of guests; default MaxTotal/2
	PoolSize       map[string]int // warm sandboxes per size class (needs a Claimer)
	// Prepared are chapters whose warm sandboxes are made ahead with the
	// chapter's setup already run: PoolSize of their size class each, so a
	// learner starting one waits for neither the sandbox nor the setup.
	// Only chapters that can come from the pool (no extra namespaces, the
	// default nodes, one cluster) count.
	Prepared   []ChapterSpec
	Tick       time.Duration // reaper and queue period; default 1s
	WarnBefore time.Duration // "expiring" event this long before expiry; default 5m
	// OrphanSweep is how often the backend is searched again for sandboxes
	// nobody owns (default 1m): a process killed while it made one can
	// leave work behind (a kind node's container started by a docker
	// command that outlived it) that appears only after the start's search.
	OrphanSweep time.Duration
	Registerer  prometheus.Registerer
	Now         func() time.Time
}

// Manager owns every session's lifecycle: admission and queue, provisioning
// and setup in the background, warm pool, expiry, activity, deletion and
// reconciliation at start. Session state lives in the Store and changes only
// through its conditional statements; the Manager's mutex guards in-memory
// bookkeeping only and is never held across a database or cluster call.
type Manager struct {
	o    ManagerOptions
	log  *slog.Logger
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup // every goroutine the Manager starts

	claimer  Claimer
	canClaim bool
	m        metrics
	subs     subscribers
	destroys destroyQueue
	kick     chan struct{}

	mu      sync.Mutex
	pool    map[string][]string // poolKey → warm sandbox ids
	filling map[string]int      // poolKey → warm creates in flight
	// extraWarm is warm sandboxes asked for on top of the pool (a
	// workshop about to start), by who asked.
	extraWarm map[string]extraWarm
	warmTook  time.Duration      // moving average of a warm sandbox's making
	local     map[string]bool    // sandbox ids this process is creating or pooling; reconcile leaves them alone
	warned    map[string]warning // session id → warnings sent
	touched   map[string]time.Time
}

// warning records which expiry warnings a session has had.
type warning struct{ ttl, idle bool }

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
	if o.ClusterBackend == "" {
		o.ClusterBackend = o.Backend
	}
	o.TTL = cmpOr(o.TTL, time.Hour)
	if o.MaxTTL < o.TTL {
		o.MaxTTL = max(4*time.Hour, o.TTL)
	}
	o.ExtendBy = cmpOr(o.ExtendBy, 30*time.Minute)
	o.MaxPerUser = cmpOr(o.MaxPerUser, 3)
	o.MaxTotal = cmpOr(o.MaxTotal, 200)
	o.MaxGuests = cmpOr(o.MaxGuests, max(1, o.MaxTotal/2))
	o.Tick = cmpOr(o.Tick, time.Second)
	o.WarnBefore = cmpOr(o.WarnBefore, 5*time.Minute)
	o.OrphanSweep = cmpOr(o.OrphanSweep, time.Minute)
	if o.Now == nil {
		o.Now = time.Now
	}
	life, stop := context.WithCancel(context.Background())
	m := &Manager{
		o: o, log: o.Log, life: life, stop: stop,
		pool: map[string][]string{}, filling: map[string]int{}, local: map[string]bool{}, extraWarm: map[string]extraWarm{},
		warned: map[string]warning{}, touched: map[string]time.Time{},
		kick: make(chan struct{}, 1),
	}
	m.destroys.init()
	m.claimer, m.canClaim = o.Provisioner.(Claimer)
	m.m = metrics{
		ready: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kubelab_sandbox_time_to_ready_seconds", Help: "Time from start to a ready sandbox, setup included.",
			Buckets: []float64{.01, .025, .05, .1, .2, .3, .5, 1, 2, 5, 10, 30, 60, 120},
		}, []string{"source"}),
		poolHit:  prometheus.NewCounter(prometheus.CounterOpts{Name: "kubelab_sandbox_pool_hits_total", Help: "Starts served from the warm pool."}),
		poolMiss: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubelab_sandbox_pool_misses_total", Help: "Starts that found the warm pool empty."}),
		state:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubelab_sandboxes", Help: "Sessions by state."}, []string{"state"}),
		queue:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubelab_sandbox_queue_length", Help: "Sessions waiting for capacity."}),
	}
	if o.Registerer != nil {
		collectors := []prometheus.Collector{m.m.ready, m.m.poolHit, m.m.poolMiss, m.m.state, m.m.queue}
		for size := range o.PoolSize {
			collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "kubelab_sandbox_pool_ready", Help: "Warm sandboxes waiting for a learner, by size class.",
				ConstLabels: prometheus.Labels{"size": size},
			}, func() float64 { return float64(m.PoolReady(size)) }))
		}
		for _, c := range collectors {
			if err := o.Registerer.Register(c); err != nil {
				m.log.Warn("register sandbox metric", "err", err)
			}
		}
	}
	return m
}

// cmpOr is cmp.Or for values where only positive ones count as set.
func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

var (
	liveStatuses    = []string{StatusProvisioning, StatusReady}
	pendingStatuses = []string{StatusProvisioning, StatusReady, StatusQueued}
)

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// goTracked runs fn in a goroutine that Run waits for.
func (m *Manager) goTracked(fn func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn()
	}()
}

// Run reconciles the backend with the store, then refills the pool, drains
// the queue, reaps expired sessions and deletes sandboxes until ctx ends.
// When it returns every goroutine the Manager started has finished;
// interrupted creates are retried by the next Run's reconcile.
func (m *Manager) Run(ctx context.Context) error {
	defer func() {
		m.stop()
		m.wg.Wait()
	}()
	for range destroyWorkers {
		m.goTracked(func() { m.destroys.work(m.life, m.o.Provisioner, m.log) })
	}
	if err := m.reconcile(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t := time.NewTicker(m.o.Tick)
	defer t.Stop()
	sweep := time.NewTicker(m.o.OrphanSweep)
	defer sweep.Stop()
	for {
		m.step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		case <-sweep.C:
			if _, _, err := m.sweepOrphans(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("sweep orphan sandboxes", "err", err)
			}
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
}
