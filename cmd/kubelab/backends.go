package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/childcluster"
	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/kindcluster"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/podshell"
	"github.com/kubelab/kubelab/sandbox/simcluster"
	"github.com/kubelab/kubelab/server/terminal"
)

// backends are the cluster, the sandbox provisioner and the shell starter
// that the flags chose.
type backends struct {
	prov           sandbox.Provisioner
	admin          *rest.Config // kubelab's credential for the shared cluster; nil with kind
	simulated      bool
	clusters       bool                        // sandboxes can be clusters of the learner's own (`sandbox: cluster` chapters)
	clusterBackend string                      // names those sandboxes\' backend when it is not --sandbox\'s
	ready          func(context.Context) error // nil: nothing beyond the database
	jails          *jail.Jail                  // runs chapter setup (and, with --shell=local, the learners' shells)
	shells         sync.WaitGroup              // token renewals of live shells
	shell          func(ctx context.Context, session, chapter string, sb *sandbox.Sandbox, current func(context.Context) (*sandbox.Sandbox, error)) (terminal.Process, error)
	stop           func()
}

// startBackends starts (or connects to) the cluster and prepares shells:
//
//	--sandbox=namespaced, no --kubeconfig: the embedded simulated cluster, and
//	                                       a simulated cluster of one's own (a
//	                                       child process) for cluster chapters
//	--sandbox=namespaced --kubeconfig F:   a namespace per learner in F's cluster
//	--sandbox=kind:                        a kind cluster per learner (Docker)
//
// and --shell=local (a jail on this host) or --shell=pod (a workspace pod).
//
// The simulated cluster's nodes are sized so that cfg.MaxSandboxes
// sandboxes of the most demanding chapter in specs can all fill their quota.
func startBackends(ctx context.Context, cfg *serveConfig, specs []sandbox.Spec, log *slog.Logger) (_ *backends, err error) {
	be := &backends{stop: func() {}}
	// The jails (and kubectl's completion, which they generate) do not
	// need the cluster: they are made while it starts.
	var jailsMade sync.WaitGroup
	var jailsErr error
	jailsMade.Go(func() { be.jails, jailsErr = newJails(log) })
	defer jailsMade.Wait()
	defer func() {
		if err != nil {
			be.stop()
		}
	}()
	switch {
	case cfg.Sandbox == "kind":
		if err := kindcluster.CheckDocker(ctx); err != nil {
			return nil, err
		}
		kinds := kindcluster.New(kindcluster.Options{Dir: filepath.Join(cfg.DataDir, "kind"), Image: cfg.KindImage, Instance: instanceOf(cfg.DataDir), Log: log})
		be.prov, be.clusters, be.stop = kinds, true, kinds.Close
	case cfg.Kubeconfig != "":
		be.admin, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load --kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
		be.prov = namespaced.New(namespaced.Options{Config: be.admin, Log: log, Instance: instanceOf(cfg.DataDir)})
	default:
		cl, err := simcluster.Start(ctx, simcluster.Options{
			DataDir: filepath.Join(cfg.DataDir, "cluster"), Nodes: cfg.Nodes,
			Capacity: namespaced.Capacity(cfg.MaxSandboxes, specs...), Log: log,
		})
		if err != nil {
			return nil, fmt.Errorf("start simulated cluster: %w", err)
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own binary: %w", err)
		}
		own := childcluster.New(childcluster.Options{Dir: filepath.Join(cfg.DataDir, "clusters"), Command: []string{exe},
			Nodes: labs.DefaultNodes, Log: log})
		be.stop = func() {
			own.Close()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := cl.Stop(sctx); err != nil {
				log.Warn("simulated cluster stop incomplete", "err", err)
			}
		}
		be.admin, be.ready, be.simulated, be.clusters, be.clusterBackend = cl.AdminConfig(), cl.Ready, true, true, "simcluster"
		be.prov = sandbox.Split{
			Namespaces: namespaced.New(namespaced.Options{Config: be.admin, Simulated: true, Log: log}),
			Clusters:   own,
		}
	}

	jailsMade.Wait()
	if jailsErr != nil {
		return nil, fmt.Errorf("learner shells and chapter setup: %w", jailsErr)
	}
	if cfg.Shell == "pod" {
		pods, err := podshell.New(podshell.Options{Config: be.admin, Image: cfg.WorkspaceImage, Log: log})
		if err != nil {
			return nil, fmt.Errorf("learner shells: %w", err)
		}
		be.shell = func(ctx context.Context, session, _ string, sb *sandbox.Sandbox, _ func(context.Context) (*sandbox.Sandbox, error)) (terminal.Process, error) {
			return pods.Shell(ctx, podshell.Spec{ID: session, Namespace: sb.Namespace,
				ServiceAccount: namespaced.ServiceAccountName, Namespaces: sb.Namespaces})
		}
		return be, nil
	}
	be.shell = func(ctx context.Context, session, chapter string, sb *sandbox.Sandbox, current func(context.Context) (*sandbox.Sandbox, error)) (terminal.Process, error) {
		sh, err := be.jails.Shell(ctx, labshell.Spec(session, chapter, sb))
		if err != nil {
			return nil, err
		}
		be.shells.Go(func() {
			renewShellToken(ctx, sh, tokenRenewal, func(ctx context.Context) (string, error) {
				sb, err := current(ctx)
				if err != nil {
					return "", err
				}
				return labshell.Spec(session, chapter, sb).Token, nil
			}, log.With("session_id", session))
		})
		return sh, nil
	}
	return be, nil
}

// instanceOf names this kubelab's sandboxes after its data dir (kind
// clusters, and namespaces on a --kubeconfig cluster), so kubelabs sharing
// a Docker engine or a cluster never take each other's sandboxes for
// orphans, and a restart on the same data dir finds its own.
func instanceOf(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return hex.EncodeToString(sum[:3])
}

// close waits for the shells' token renewals, then stops the cluster.
func (be *backends) close() {
	be.shells.Wait()
	be.stop()
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

// chapterSpecs is the sandbox each chapter asks for.
func chapterSpecs(cat *labs.Catalog) []sandbox.Spec {
	var specs []sandbox.Spec
	for _, ch := range cat.Chapters() {
		specs = append(specs, sandbox.Spec{Size: ch.Size, Namespaces: ch.Namespaces})
	}
	return specs
}
