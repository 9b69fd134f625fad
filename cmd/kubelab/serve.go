package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/frontend"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster"
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

	st, closeStore, err := openStore(ctx, cfg.commonConfig, log)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := ensureAdmin(ctx, st, cfg.AdminEmail, cfg.AdminPassword, stdout, log); err != nil {
		return err
	}

	cat, programs, err := loadCatalog(cfg.LabsDir)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}

	// The cluster: the embedded simulated one unless --kubeconfig names another.
	var admin *rest.Config
	var clusterReady func(context.Context) error
	simulated := cfg.Kubeconfig == ""
	if simulated {
		cl, err := simcluster.Start(ctx, simcluster.Options{DataDir: filepath.Join(cfg.DataDir, "cluster"), Nodes: cfg.Nodes, Log: log})
		if err != nil {
			return fmt.Errorf("start simulated cluster: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := cl.Stop(sctx); err != nil {
				log.Warn("simulated cluster stop incomplete", "err", err)
			}
		}()
		admin, clusterReady = cl.AdminConfig(), cl.Ready
	} else {
		admin, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return fmt.Errorf("load --kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
	}
	if cfg.Sandbox != "namespaced" {
		return fmt.Errorf("--sandbox=%s: only namespaced sandboxes are wired in this build", cfg.Sandbox)
	}
	prov := namespaced.New(namespaced.Options{Config: admin, Simulated: simulated, Log: log})

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	j, err := jail.New(jail.Options{Forwarder: []string{exe, "forward"}, Log: log})
	if err != nil {
		return fmt.Errorf("learner shells: %w", err)
	}
	terms := terminal.NewManager(terminal.Options{Log: log})

	var srvRef atomic.Pointer[server.Server]
	reg := prometheus.NewRegistry()
	mgr := sandbox.NewManager(sandbox.ManagerOptions{
		Provisioner: prov, Store: st, Log: log, Simulated: simulated, Backend: "namespaced",
		TTL: cfg.SessionTTL, MaxTTL: cfg.MaxSessionTTL, IdleTTL: cfg.IdleTimeout,
		MaxPerUser: cfg.MaxPerUser, MaxTotal: cfg.MaxSandboxes,
		PoolSize:   map[string]int{labs.SizeSmall: cfg.PoolSize},
		Registerer: reg,
		Events: func(ev sandbox.Event) {
			if s := srvRef.Load(); s != nil {
				s.SandboxEvent(ev)
			}
		},
	})
	mctx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	managerDone := make(chan struct{})
	go func() {
		defer close(managerDone)
		if err := mgr.Run(mctx); err != nil {
			log.Error("sandbox manager stopped", "err", err)
		}
	}()
	defer func() { stopManager(); <-managerDone }()

	assets := frontend.FS()
	if cfg.Dev {
		assets = os.DirFS("frontend")
	}
	srv, err := server.New(server.Options{
		Store: st, Log: log, PublicURL: cfg.PublicURL, Dev: cfg.Dev, Assets: assets,
		FrameAncestors: cfg.FrameAncestors, Catalog: cat, Programs: programs, Sandboxes: mgr,
		ClusterConfig: admin, Terminals: terms, Ready: clusterReady,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Shell: func(ctx context.Context, session string, sb *sandbox.Sandbox) (terminal.Process, error) {
			ss, err := mgr.Session(ctx, session)
			if err != nil {
				return nil, err
			}
			sh, err := j.Shell(ctx, shellSpec(session, ss.Chapter, sb))
			if err != nil {
				return nil, err
			}
			go renewShellToken(ctx, sh, tokenRenewal, func(ctx context.Context) (string, error) {
				sb, err := mgr.Sandbox(ctx, session)
				if err != nil {
					return "", err
				}
				return shellSpec(session, ss.Chapter, sb).Token, nil
			}, log.With("session", session))
			return sh, nil
		},
	})
	if err != nil {
		return err
	}
	srvRef.Store(srv)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("kubelab is serving", "addr", ln.Addr().String(), "url", displayURL(cfg.PublicURL, ln.Addr()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown incomplete", "err", err)
	}
	return nil
}

// tokenRenewal is how often a live shell gets the sandbox's current token:
// well inside the token's lifetime (an hour, renewed at two thirds).
const tokenRenewal = 5 * time.Minute

// tokenSetter is a shell whose credential can be replaced.
type tokenSetter interface {
	SetToken(token string) error
	Wait() error
}

// renewShellToken keeps a shell's token current until the shell exits or
// ctx ends. A failed renewal is logged and retried at the next tick: the
// old token usually has a while left.
func renewShellToken(ctx context.Context, sh tokenSetter, every time.Duration, current func(context.Context) (string, error), log *slog.Logger) {
	exited := make(chan struct{})
	go func() { _ = sh.Wait(); close(exited) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-exited:
			return
		case <-tick.C:
		}
		tok, err := current(ctx)
		if err == nil && tok != "" && tok != last {
			err = sh.SetToken(tok)
		}
		if err != nil {
			log.Warn("renew shell token", "err", err)
			continue
		}
		last = tok
	}
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
