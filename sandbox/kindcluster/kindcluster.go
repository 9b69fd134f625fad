// Package kindcluster owns the kind-cluster-per-learner sandbox backend: each
// sandbox is a kind cluster with its own kubeconfig file (never
// ~/.kube/config). It is the only package that imports kind.
package kindcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/kubelab/kubelab/sandbox"
)

// Kind is the seam over the few kind calls the backend makes; tests replace it.
type Kind interface {
	Create(name, image, kubeconfigPath string) error
	Delete(name, kubeconfigPath string) error
	List() ([]string, error)
}

// Options configure New.
type Options struct {
	Dir string // kubeconfig files, one per sandbox
	// Instance tells this kubelab's clusters from those of other kubelabs
	// (and tests) on the same Docker engine: each deletes the clusters it
	// finds at start that it has no record of, so it must see only its own.
	// Clusters are named kl-INSTANCE-ID (kl-ID without an instance).
	Instance      string
	Image         string // node image; empty: kind's default for its version
	MaxConcurrent int    // concurrent creates; default 2
	Log           *slog.Logger
	Kind          Kind // nil: the real kind with Docker
}

// Provisioner makes kind sandboxes. It implements sandbox.Provisioner.
type Provisioner struct {
	o      Options
	prefix string
	sem    chan struct{}
	mu     sync.Mutex
	// creating holds creates in flight; a create destroyed meanwhile is in
	// abandoned and deleted when kind finishes, since kind's Create takes
	// no context.
	creating  map[string]chan error
	abandoned map[string]bool
	creates   sync.WaitGroup // the create goroutines; Close waits for them
	// listed is kind's cluster list as of listedAt (see clusterNames).
	listed   []string
	listedAt time.Time
}

// listFresh is how long Get trusts a cluster list: every list runs
// `docker ps`, and a learner's start, terminal and grader each look up
// the sandbox within the same second.
const listFresh = 2 * time.Second

// clusterNames lists kind's clusters, reusing a list younger than
// listFresh unless fresh is set.
func (p *Provisioner) clusterNames(fresh bool) ([]string, error) {
	p.mu.Lock()
	if !fresh && time.Since(p.listedAt) < listFresh {
		names := p.listed
		p.mu.Unlock()
		return names, nil
	}
	p.mu.Unlock()
	names, err := p.o.Kind.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	p.mu.Lock()
	p.listed, p.listedAt = names, time.Now()
	p.mu.Unlock()
	return names, nil
}

// forgetList makes the next Get list again: a cluster came or went.
func (p *Provisioner) forgetList() {
	p.mu.Lock()
	p.listedAt = time.Time{}
	p.mu.Unlock()
}

var (
	_ sandbox.Provisioner = (*Provisioner)(nil)
	_ sandbox.Claimer     = (*Provisioner)(nil)
)

// New returns a Provisioner.
func New(o Options) *Provisioner {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 2
	}
	if o.Kind == nil {
		o.Kind = realKind{p: cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(logger{o.Log}))}
	}
	prefix := "kl-"
	if o.Instance != "" {
		prefix += o.Instance + "-"
	}
	return &Provisioner{o: o, prefix: prefix, sem: make(chan struct{}, o.MaxConcurrent),
		creating: map[string]chan error{}, abandoned: map[string]bool{}}
}

// CheckDocker returns a clear error when no Docker engine answers.
func CheckDocker(ctx context.Context) error {
	path, err := exec.LookPath("docker")
	if err != nil {
		return errors.New("--sandbox=kind needs Docker: no docker command on PATH (install Docker, or use --sandbox=namespaced)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("--sandbox=kind needs a running Docker engine: docker info: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (p *Provisioner) kubeconfig(id string) string { return filepath.Join(p.o.Dir, id+".kubeconfig") }

// Create makes the kind cluster for id, or returns it if it exists.
func (p *Provisioner) Create(ctx context.Context, id string, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if len(spec.Clusters) > 0 {
		return nil, fmt.Errorf("create kind cluster %s: further clusters (%s) are not available on kind: one cluster per learner", id, strings.Join(spec.Clusters, ", "))
	}
	if sb, err := p.Get(ctx, id); err == nil {
		return sb, nil
	}
	p.mu.Lock()
	done, ok := p.creating[id]
	if !ok {
		done = make(chan error, 1)
		p.creating[id] = done
		p.creates.Go(func() { p.create(id, done) })
	}
	p.mu.Unlock()
	select {
	case err := <-done:
		done <- err // let other waiters see it too
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("create kind cluster %s: %w", id, ctx.Err())
	}
	if err := nameContext(p.kubeconfig(id), spec.Chapter); err != nil {
		return nil, err
	}
	if spec.Progress != nil {
		spec.Progress("cluster")
	}
	return p.Get(ctx, id)
}

// Claim hands a warm cluster (created with no chapter) to a learner: the
// cluster is theirs alone, so only its kubeconfig context changes.
func (p *Provisioner) Claim(ctx context.Context, id string, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if err := nameContext(p.kubeconfig(id), spec.Chapter); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("kind cluster %s: %w", id, sandbox.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	return p.Get(ctx, id)
}

// nameContext names the kubeconfig's only context after the chapter, as on
// every backend, instead of kind's "kind-kl-<id>".
func nameContext(path, chapter string) error {
	if chapter == "" {
		return nil
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	if cfg.CurrentContext == chapter {
		return nil
	}
	if err := sandbox.NameContext(cfg, chapter); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

func (p *Provisioner) create(id string, done chan error) {
	p.sem <- struct{}{}
	err := os.MkdirAll(p.o.Dir, 0o700)
	if err == nil {
		err = p.o.Kind.Create(p.prefix+id, p.o.Image, p.kubeconfig(id))
	}
	p.forgetList()
	<-p.sem
	if err != nil {
		err = fmt.Errorf("create kind cluster %s: %w", id, err)
	}
	p.mu.Lock()
	delete(p.creating, id)
	abandoned := p.abandoned[id]
	delete(p.abandoned, id)
	p.mu.Unlock()
	done <- err
	if abandoned {
		if err := p.o.Kind.Delete(p.prefix+id, p.kubeconfig(id)); err != nil {
			p.o.Log.Warn("delete abandoned kind cluster", "sandbox_id", id, "err", err)
		}
		p.forgetList()
		os.Remove(p.kubeconfig(id))
	}
}

// Close waits for the creates in flight (and the deletes of those
// destroyed meanwhile): kind's Create cannot be interrupted.
func (p *Provisioner) Close() { p.creates.Wait() }

// Get returns the sandbox if its cluster exists.
func (p *Provisioner) Get(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	names, err := p.clusterNames(false)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, p.prefix+id) {
		return nil, fmt.Errorf("kind cluster %s: %w", id, sandbox.ErrNotFound)
	}
	raw, err := os.ReadFile(p.kubeconfig(id))
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig of %s: %w", id, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("parse kubeconfig of %s: %w", id, err)
	}
	return &sandbox.Sandbox{ID: id, Backend: "kind", Namespace: "default", Config: cfg, Kubeconfig: raw, Server: cfg.Host, Cluster: true}, nil
}

// SetupConfig returns the cluster's admin credentials: the learner is its
// admin too, so setup needs nothing more.
func (p *Provisioner) SetupConfig(ctx context.Context, id string) (*rest.Config, error) {
	sb, err := p.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return sb.Config, nil
}

// Destroy deletes the cluster; a create still running is deleted when it ends.
func (p *Provisioner) Destroy(ctx context.Context, id string) error {
	p.mu.Lock()
	_, creating := p.creating[id]
	if creating {
		p.abandoned[id] = true // the create deletes it when kind is done
	}
	p.mu.Unlock()
	if creating {
		return nil
	}
	err := p.o.Kind.Delete(p.prefix+id, p.kubeconfig(id))
	p.forgetList()
	if err != nil {
		return fmt.Errorf("delete kind cluster %s: %w", id, err)
	}
	if err := os.Remove(p.kubeconfig(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove kubeconfig of %s: %w", id, err)
	}
	return nil
}

// List returns the ids of kubelab's kind clusters.
func (p *Provisioner) List(ctx context.Context) ([]string, error) {
	names, err := p.clusterNames(true)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if id, ok := strings.CutPrefix(n, p.prefix); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

type realKind struct{ p *cluster.Provider }

func (k realKind) Create(name, image, kc string) error {
	err := k.p.Create(name, cluster.CreateWithKubeconfigPath(kc), cluster.CreateWithNodeImage(image), cluster.CreateWithWaitForReady(3*time.Minute),
		cluster.CreateWithDisplayUsage(false), cluster.CreateWithDisplaySalutation(false))
	if err != nil {
		return err
	}
	return waitUsable(kc, 2*time.Minute)
}

// waitUsable waits for what a learner's first commands need and kind's
// readiness wait (a Ready node) does not cover: the default ServiceAccount,
// without which every pod is refused, and a ready CoreDNS, without which
// Service names do not resolve.
func waitUsable(kubeconfig string, within time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	waiting := "the API server"
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			waiting = "the default ServiceAccount"
			return false, nil
		}
		d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil || d.Status.ReadyReplicas == 0 {
			waiting = "a ready CoreDNS pod"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("cluster not usable after %v: still waiting for %s", within, waiting)
	}
	return nil
}
func (k realKind) Delete(name, kc string) error { return k.p.Delete(name, kc) }
func (k realKind) List() ([]string, error)      { return k.p.List() }

// logger adapts kind's logger to slog.
type logger struct{ l *slog.Logger }

func (l logger) Warn(m string)                        { l.l.Warn(m) }
func (l logger) Warnf(f string, a ...any)             { l.l.Warn(fmt.Sprintf(f, a...)) }
func (l logger) Error(m string)                       { l.l.Error(m) }
func (l logger) Errorf(f string, a ...any)            { l.l.Error(fmt.Sprintf(f, a...)) }
func (l logger) V(v kindlog.Level) kindlog.InfoLogger { return info{l.l, v} }

type info struct {
	l *slog.Logger
	v kindlog.Level
}

func (i info) Info(m string)            { i.l.Debug(m, "v", int(i.v)) }
func (i info) Infof(f string, a ...any) { i.l.Debug(fmt.Sprintf(f, a...), "v", int(i.v)) }
func (i info) Enabled() bool            { return i.v == 0 }
