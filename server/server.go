// Package server is kubelab's HTTP face: the echo application with every
// route (routes.go), the handlers of API v1 and the pages, authentication,
// login sessions, cross-site request protection and the mapping of domain
// errors to HTTP statuses (errors.go). Domain packages never import it.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/labs/exams"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/terminal"
)

// Options configures a Server. Zero values get the documented defaults.
type Options struct {
	Store   *store.Store  // required
	Log     *slog.Logger  // required
	Catalog *labs.Catalog // required: the chapters

	// PublicURL is the URL browsers use to reach kubelab, e.g.
	// "https://labs.example.com". It decides the Secure cookie flag and the
	// origin that state-changing requests must come from. Empty means "the
	// Host the request was sent to", which suits local use.
	PublicURL string
	// Dev serves the frontend from disk and relaxes caching.
	Dev bool
	// Assets are the static frontend files (frontend.FS()).
	Assets fs.FS
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; empty: the TCP peer is the client.
	TrustedProxies []*net.IPNet
	// AllowedHosts are further host names kubelab answers to when PublicURL
	// is empty (localhost names and IP addresses always are).
	AllowedHosts []string
	// EntryLimits bound sign-ups and guest creation; zero: the defaults.
	EntryLimits EntryLimits
	// FrameAncestors is the CSP frame-ancestors value; default 'none'.
	FrameAncestors string

	// SessionIdle and SessionAbsolute bound a login session; defaults 24h and 14 days.
	SessionIdle     time.Duration
	SessionAbsolute time.Duration

	// Sandboxes runs the learners' sandboxes and their sessions.
	Sandboxes *sandbox.Manager
	// Programs are the compiled checks of every chapter, by chapter id.
	Programs map[string]*grader.Program
	// ClusterConfig is kubelab's own credential for the shared cluster the
	// grader reads; nil when every learner has a cluster of their own.
	ClusterConfig *rest.Config
	// Simulated is set when sandboxes live on the simulated cluster, where
	// no container runs: chapters that need real containers cannot start.
	Simulated bool
	// OwnClusters is set when the sandboxes can be clusters of the
	// learner's own; without it `sandbox: cluster` chapters cannot start.
	OwnClusters bool
	// FurtherClusters is set when a cluster sandbox can have further
	// clusters (chapters with `clusters:`).
	FurtherClusters bool
	// Terminals keeps the learners' live shells; Shell starts one.
	Terminals *terminal.Manager
	Shell     ShellStarter
	// Solve runs a chapter's reference solution in a session's sandbox with
	// the learner's credentials (an instructor's fast-forward); nil when
	// shells run in workspace pods.
	Solve func(ctx context.Context, ss sandbox.Session, sb *sandbox.Sandbox, script string) ([]byte, error)
	// Exams are the practice exams learners can sit.
	Exams []*exams.Exam
	// Metrics serves /metrics; nil disables it.
	Metrics http.Handler

	// Ready reports whether the dependencies beyond the database (the
	// cluster) are ready; nil means nothing else to wait for.
	Ready func(ctx context.Context) error
}

// Server holds the dependencies of the HTTP handlers.
type Server struct {
	opts    Options
	log     *slog.Logger
	store   *store.Store
	catalog *labs.Catalog
	public  *url.URL // nil when Options.PublicURL is empty
	echo    *echo.Echo
	pages   *pages // the error page comes from here; nil until pageRoutes
	limits  *loginLimiter
	entries *entryLimiter
	// passwords runs password hashing a few at a time.
	passwords *passwordWork
	ready     readiness

	sandboxes  *sandbox.Manager
	programs   map[string]*grader.Program
	terminals  *terminal.Manager
	upgrader   *websocket.Upgrader
	events     *hub
	live       *liveGrading
	targets    targetCache
	grids      *gridHub      // workshops' live grids
	takeovers  *takeovers    // instructors typing in learners' terminals
	wrongCodes *entryLimiter // wrong workshop codes, per address
	warm       warming       // workshops' warm sandboxes

	// life is the server's whole-lifetime context: background work such as
	// live grading runs under it, never under a request's context.
	life       context.Context
	kubeKey    kubeKey      // signs downloaded kubeconfigs' tokens
	attempts   attemptCache // exam attempts' draws
	stopLife   context.CancelFunc
	background sync.WaitGroup // goroutines that run for the server's life

	mu     sync.Mutex
	server *http.Server
}

// New builds a Server and registers its routes.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Log == nil || opts.Catalog == nil || opts.Sandboxes == nil {
		return nil, errors.New("server: Store, Log, Catalog and Sandboxes are required")
	}
	if opts.SessionIdle == 0 {
		opts.SessionIdle = 24 * time.Hour
	}
	if opts.SessionAbsolute == 0 {
		opts.SessionAbsolute = 14 * 24 * time.Hour
	}
	if opts.FrameAncestors == "" {
		opts.FrameAncestors = "'none'"
	}
	s := &Server{opts: opts, log: opts.Log, store: opts.Store, catalog: opts.Catalog, limits: newLoginLimiter(),
		entries: newEntryLimiter(opts.EntryLimits), passwords: newPasswordWork(),
		sandboxes: opts.Sandboxes, programs: opts.Programs, terminals: opts.Terminals, events: newHub()}
	s.life, s.stopLife = context.WithCancel(context.Background())
	s.live = newLiveGrading(s)
	s.grids, s.takeovers = newGridHub(s), newTakeovers()
	s.warm.asks = map[string]warmAsk{}
	// A class behind one address mistypes a few codes; guessing one of
	// 10^12 codes at one try per 3 s is hopeless.
	s.wrongCodes = newEntryLimiter(EntryLimits{PerIPBurst: 20, PerIPEvery: 3 * time.Second, GlobalBurst: 300, GlobalEvery: 50 * time.Millisecond})
	sub := opts.Sandboxes.Subscribe()
	s.background.Go(func() { s.followSandboxEvents(sub) })
	s.upgrader = terminal.Upgrader(s.browserOriginAllowed)
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("public URL %q: want http(s)://host[:port]", opts.PublicURL)
		}
		s.public = u
	}
	s.echo = s.newEcho()
	s.watchExams()
	s.watchWorkshops()
	return s, nil
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve accepts connections on l until Shutdown is called. It returns nil
// after a clean shutdown.
func (s *Server) Serve(l net.Listener) error {
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	s.server = hs
	s.mu.Unlock()
	if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests, closes every terminal and event stream
// with a reason, stops live grading and waits for in-flight requests until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopLife()
	if s.terminals != nil {
		s.terminals.Shutdown(ctx, "kubelab is restarting; reconnect in a moment")
	}
	defer func() {
		s.background.Wait()
		s.live.wait()
	}()
	s.mu.Lock()
	hs := s.server
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	if err := hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}
