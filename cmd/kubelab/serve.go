package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubelab/kubelab/frontend"
	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/internal/sysdeps"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/labs/exams"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server"
	"github.com/kubelab/kubelab/server/terminal"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, cfg := serveFlags(getenv)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	log.Info("configuration", "config", cfg.logValue())
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	// Lessons first: a broken chapter stops kubelab before anything starts.
	cat, programs, err := loadCatalog(cfg.LabsDir)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	if err := sysdeps.Ensure(ctx, sysdeps.Options{Needs: cfg.systemNeeds(), Install: os.Geteuid() == 0, Log: log}); err != nil {
		return err
	}

	// The cluster starts while the database does: each takes seconds on
	// a first start, and neither needs the other.
	type started struct {
		be  *backends
		err error
	}
	// The exams' banks are read and each task rendered several ways while
	// the cluster and the database start. Their checks are not compiled
	// here: compiling every variant was a third of the CPU of a warm start
	// on two cores, an attempt compiles the checks of its own draw, and
	// `kubelab exams validate` compiles them all (in the test command).
	type loadedExams struct {
		list []*exams.Exam
		err  error
	}
	examsDone := make(chan loadedExams, 1)
	go func() {
		list, err := exams.Load(exams.Bundled(), labs.Options{})
		examsDone <- loadedExams{list, err}
	}()
	backendsDone := make(chan started, 1)
	go func() {
		be, err := startBackends(ctx, cfg, chapterSpecs(cat), log)
		backendsDone <- started{be, err}
	}()
	st, closeStore, pgExited, err := openStore(ctx, cfg.commonConfig, log)
	if err == nil {
		err = ensureAdmin(ctx, st, cfg.AdminEmail, cfg.AdminPassword, stdout, log)
	}
	b := <-backendsDone
	ex := <-examsDone
	if err == nil && ex.err != nil {
		err = fmt.Errorf("refusing to start: invalid exams: %w", ex.err)
	}
	if closeStore != nil {
		defer closeStore()
	}
	if b.be != nil {
		defer b.be.close()
	}
	if err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	be := b.be
	terms := terminal.NewManager(terminal.Options{Log: log})

	reg := prometheus.NewRegistry()
	// Setups find exam attempts' chapters through the server, made below.
	chapters := &serverChapters{cat: cat}
	mgr := sandbox.NewManager(sandbox.ManagerOptions{
		Provisioner: be.prov, Store: st, Log: log, Simulated: be.simulated, Backend: cfg.Sandbox, AllClusters: cfg.Sandbox == "kind", ClusterBackend: be.clusterBackend,
		Prepare: labshell.Setup(chapters, be.jails, be.prov),
		TTL:     cfg.SessionTTL, MaxTTL: cfg.MaxSessionTTL, IdleTTL: cfg.IdleTimeout,
		MaxPerUser: cfg.MaxPerUser, MaxTotal: cfg.MaxSandboxes, MaxGuests: cfg.MaxGuests,
		PoolSize: poolSizes(cat, cfg.PoolSize, cfg.Sandbox == "kind"),
		// Namespaces are cheap to keep prepared; whole clusters (kind, or
		// simulated ones of one's own) are not, so those chapters take a
		// plain warm cluster and run their setup on it.
		Prepared: labshell.Prepared(cat, func(ch *labs.Chapter) bool {
			return cfg.Sandbox != "kind" && ch.Sandbox != labs.SandboxCluster &&
				!(be.simulated && slices.Contains(ch.Needs, labs.NeedRuntime))
		}),
		Registerer: reg,
	})

	assets := frontend.FS()
	if cfg.Dev {
		assets = os.DirFS("frontend")
	}
	proxies, err := parseNets(cfg.TrustedProxies) // validated already
	if err != nil {
		return err
	}
	// The server subscribes to the manager's events, so it is made first.
	srv, err := server.New(server.Options{
		TrustedProxies: proxies,
		EntryLimits:    server.EntryLimits{GlobalBurst: cfg.EntryBurst, PerIPBurst: cfg.EntryBurstIP},
		Store:          st, Log: log, PublicURL: cfg.PublicURL, AllowedHosts: splitList(cfg.AllowedHosts), Dev: cfg.Dev, Assets: assets,
		FrameAncestors: cfg.FrameAncestors, Catalog: cat, Programs: programs, Sandboxes: mgr,
		ClusterConfig: be.admin, Simulated: be.simulated, OwnClusters: be.clusters, FurtherClusters: be.clusterBackend == "simcluster", Terminals: terms, Ready: be.ready,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Exams: ex.list,
		Shell: func(ctx context.Context, session string, sb *sandbox.Sandbox) (terminal.Process, error) {
			ss, err := mgr.Session(ctx, session)
			if err != nil {
				return nil, err
			}
			return be.shell(ctx, session, ss.Chapter, sb, func(ctx context.Context) (*sandbox.Sandbox, error) {
				return mgr.Sandbox(ctx, session)
			})
		},
		Solve: func(ctx context.Context, ss sandbox.Session, sb *sandbox.Sandbox, script string) ([]byte, error) {
			return be.jails.Run(ctx, labshell.Spec(ss.ID+"-solve", ss.Chapter, sb), script)
		},
	})
	if err != nil {
		return err
	}
	chapters.srv.Store(srv)
	mctx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	managerDone := make(chan struct{})
	go func() {
		defer close(managerDone)
		if err := mgr.Run(mctx); err != nil {
			log.Error("sandbox manager stopped", "err", err)
		}
	}()
	defer func() { stopManager(); <-managerDone }()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("kubelab is serving", "addr", ln.Addr().String(), "url", displayURL(cfg.PublicURL, ln.Addr()))
	if cfg.BuildTools && cfg.Shell == "local" {
		tctx, stopTools := context.WithCancel(ctx)
		toolsDone := make(chan struct{})
		go func() {
			defer close(toolsDone)
			if err := sysdeps.Build(tctx, sysdeps.BuildOptions{Modules: sysdeps.Modules, Install: os.Geteuid() == 0, Log: log}); err != nil {
				log.Warn("a tool for the learners' shells did not build", "err", err)
			}
		}()
		defer func() { stopTools(); <-toolsDone }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-pgExited:
		// Nothing restarts the database, and without it every request
		// fails: stop, so that a restart (by hand or by the service
		// manager) recovers. The labs resume from the database.
		pgLog := filepath.Join(cfg.DataDir, "postgres", "postgres.log")
		log.Error("the private postgresql exited; stopping", "postgres_log", pgLog)
		shutdown(ctx, srv, log)
		return fmt.Errorf("the private PostgreSQL exited unexpectedly (its log: %s); start kubelab again and the learners' labs resume", pgLog)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown(ctx, srv, log)
	return nil
}

// shutdown stops the web server, letting requests under way finish.
func shutdown(ctx context.Context, srv *server.Server, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown incomplete", "err", err)
	}
}

// poolSizes keeps n warm sandboxes of every size class a chapter uses.
func poolSizes(cat *labs.Catalog, n int, allClusters bool) map[string]int {
	sizes := map[string]int{}
	for _, ch := range cat.Chapters() {
		if ch.Sandbox == labs.SandboxCluster || allClusters {
			sizes[sandbox.ClusterClass] = n
		} else {
			sizes[ch.Size] = n
		}
	}
	return sizes
}

// displayURL is the address to open in a browser.
func displayURL(public string, addr net.Addr) string {
	if public != "" {
		return public
	}
	if ta, ok := addr.(*net.TCPAddr); ok && (ta.IP.IsUnspecified() || ta.IP.IsLoopback()) {
		return fmt.Sprintf("http://localhost:%d", ta.Port)
	}
	return "http://" + addr.String()
}
