// Package childcluster gives each sandbox a simulated cluster of its own:
// the embedded simulated cluster (etcd, API server, controller manager,
// scheduler and kwok nodes) started in a child process of kubelab, with its
// own data dir, ports and CA, whose admin is the learner.
//
// The simulated cluster can start only once per process (its components
// keep process-wide state), hence a process per cluster. A child dies with
// kubelab (the kernel's parent-death signal, and the child's own watch of
// its parent), so a crashed kubelab leaves no process behind; its data dir
// stays until the Manager's reaper, which destroys every sandbox it has no
// record of, removes it. A live sandbox whose child is gone (kubelab was
// restarted) is started again from its data dir on the next Get: the
// learner's objects are in its etcd.
//
// A sandbox may have further clusters (sandbox.Spec.Clusters): each is one
// more child, with its data dir under the sandbox's (others/NAME), and a
// context named NAME in the learner's kubeconfig.
//
// The parent and the child speak through the environment variable EnvChild
// (a JSON childConfig) and a file: the child writes DataDir/ready once its
// nodes are Ready. Whatever binary Options.Command names must call Child
// when it finds EnvChild set: kubelab's main does, and so do tests' TestMain.
package childcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubelab/kubelab/sandbox"
)

// Options configure New.
type Options struct {
	// Dir holds one data dir per cluster, named after the sandbox id.
	Dir string
	// Command runs one child: the kubelab binary (or a test binary whose
	// TestMain calls Child). Its arguments are ignored by the child.
	Command []string
	// Env is added to each child's environment, after childTuning.
	Env []string
	// Nodes is the layout of warm clusters and of chapters that name none;
	// the first is the control plane. Required.
	Nodes []string
	// MaxConcurrent bounds how many children start at once (default 2): a
	// start is CPU-bound for about two seconds.
	MaxConcurrent int
	// StartTimeout bounds one child's start (default 2 minutes).
	StartTimeout time.Duration
	Log          *slog.Logger
}

// Provisioner makes sandboxes that are simulated clusters of their own. It
// implements sandbox.Provisioner and sandbox.Claimer. Close stops every
// child.
type Provisioner struct {
	o   Options
	sem chan struct{}

	mu       sync.Mutex
	children map[string]*child // by childKey: started, starting or exited
	closed   bool
	wg       sync.WaitGroup // one waiter goroutine per child
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
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	return &Provisioner{o: o, sem: make(chan struct{}, o.MaxConcurrent), children: map[string]*child{}}
}

// validID keeps ids to what the Manager makes, so an id is always a plain
// directory name under Dir.
var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (p *Provisioner) dir(id string) (string, error) {
	if !validID.MatchString(id) {
		return "", fmt.Errorf("sandbox id %q: not a valid cluster name", id)
	}
	return filepath.Join(p.o.Dir, id), nil
}

// Create starts the cluster for id, or returns it if it exists.
func (p *Provisioner) Create(ctx context.Context, id string, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	dir, err := p.dir(id)
	if err != nil {
		return nil, err
	}
	nodes := spec.Nodes
	if len(nodes) == 0 {
		nodes = p.o.Nodes
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("create cluster %s: no node layout", id)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cluster %s: %w", id, err)
	}
	if err := writeLayout(dir, nodes); err != nil {
		return nil, fmt.Errorf("create cluster %s: %w", id, err)
	}
	for _, name := range spec.Clusters {
		if !validID.MatchString(name) {
			return nil, fmt.Errorf("create cluster %s: further cluster %q: not a valid cluster name", id, name)
		}
		other := filepath.Join(dir, othersDir, name)
		if err := os.MkdirAll(other, 0o700); err != nil {
			return nil, fmt.Errorf("create cluster %s: %w", id, err)
		}
		if err := writeLayout(other, p.o.Nodes); err != nil {
			return nil, fmt.Errorf("create cluster %s/%s: %w", id, name, err)
		}
	}
	if err := writeOthers(dir, spec.Clusters); err != nil {
		return nil, fmt.Errorf("create cluster %s: %w", id, err)
	}
	if err := p.ensureAll(ctx, id, dir); err != nil {
		return nil, err
	}
	if spec.Progress != nil {
		spec.Progress("cluster")
	}
	return p.named(id, dir, spec.Chapter)
}

// Claim hands a warm cluster (made with no chapter) to a learner: the
// cluster is theirs alone, so only its kubeconfig context changes.
func (p *Provisioner) Claim(ctx context.Context, id string, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	dir, err := p.dir(id)
	if err != nil {
		return nil, err
	}
	if err := p.ensureExisting(ctx, id, dir); err != nil {
		return nil, err
	}
	return p.named(id, dir, spec.Chapter)
}

// named names the learner's kubeconfig context after the chapter, as on
// every backend, adds a context for each further cluster, and returns the
// sandbox.
func (p *Provisioner) named(id, dir, chapter string) (*sandbox.Sandbox, error) {
	if chapter != "" {
		kc, err := clientcmd.LoadFromFile(filepath.Join(dir, "admin.kubeconfig"))
		if err != nil {
			return nil, fmt.Errorf("cluster %s: read kubeconfig: %w", id, err)
		}
		if err := sandbox.NameContext(kc, chapter); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", id, err)
		}
		others, err := readOthers(dir)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", id, err)
		}
		for _, name := range others {
			okc, err := clientcmd.LoadFromFile(filepath.Join(dir, othersDir, name, "admin.kubeconfig"))
			if err != nil {
				return nil, fmt.Errorf("cluster %s/%s: read kubeconfig: %w", id, name, err)
			}
			if err := addContext(kc, name, okc); err != nil {
				return nil, fmt.Errorf("cluster %s/%s: %w", id, name, err)
			}
		}
		if err := clientcmd.WriteToFile(*kc, filepath.Join(dir, "learner.kubeconfig")); err != nil {
			return nil, fmt.Errorf("cluster %s: write kubeconfig: %w", id, err)
		}
	}
	return p.sandbox(id, dir)
}

// addContext adds other's current context to kc as context name, with its
// cluster and user entries renamed after it so they cannot collide.
func addContext(kc *clientcmdapi.Config, name string, other *clientcmdapi.Config) error {
	ctx, ok := other.Contexts[other.CurrentContext]
	if !ok {
		return fmt.Errorf("kubeconfig has no current context %q", other.CurrentContext)
	}
	cluster, user := other.Clusters[ctx.Cluster], other.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		return fmt.Errorf("kubeconfig context %q lacks its cluster or user", other.CurrentContext)
	}
	entry := "cluster-" + name
	if _, taken := kc.Contexts[name]; taken {
		return fmt.Errorf("kubeconfig already has a context %q", name)
	}
	kc.Clusters[entry], kc.AuthInfos[entry] = cluster, user
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: entry, AuthInfo: entry, Namespace: ctx.Namespace}
	return nil
}

// Get returns the sandbox if its cluster exists, starting its child again
// if kubelab was restarted since.
func (p *Provisioner) Get(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	dir, err := p.dir(id)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", id, sandbox.ErrNotFound)
	}
	if err := p.ensureExisting(ctx, id, dir); err != nil {
		return nil, err
	}
	return p.sandbox(id, dir)
}

// ensureExisting is ensureAll for a cluster that must have been created.
func (p *Provisioner) ensureExisting(ctx context.Context, id, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, layoutFile)); err != nil {
		return fmt.Errorf("cluster %s: %w", id, sandbox.ErrNotFound)
	}
	return p.ensureAll(ctx, id, dir)
}

// ensureAll ensures the sandbox's primary cluster and its further ones,
// started side by side.
func (p *Provisioner) ensureAll(ctx context.Context, id, dir string) error {
	others, err := readOthers(dir)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", id, err)
	}
	errs := make([]error, len(others)+1)
	var wg sync.WaitGroup
	for i, name := range others {
		wg.Go(func() { errs[i+1] = p.ensure(ctx, childKey(id, name), filepath.Join(dir, othersDir, name)) })
	}
	errs[0] = p.ensure(ctx, id, dir)
	wg.Wait()
	return errors.Join(errs...)
}

// childKey names a child: the sandbox id for its primary cluster, id/name
// for a further one.
func childKey(id, other string) string { return id + "/" + other }

func (p *Provisioner) sandbox(id, dir string) (*sandbox.Sandbox, error) {
	path := filepath.Join(dir, "learner.kubeconfig")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) { // a warm cluster: nobody's yet
		raw, err = os.ReadFile(filepath.Join(dir, "admin.kubeconfig"))
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: read kubeconfig: %w", id, err)
	}
	kc, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: parse kubeconfig: %w", id, err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: parse kubeconfig: %w", id, err)
	}
	sb := &sandbox.Sandbox{ID: id, Backend: "simcluster", Namespace: "default", Config: cfg, Kubeconfig: raw,
		Server: cfg.Host, Simulated: true, Cluster: true}
	others, err := readOthers(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", id, err)
	}
	for _, name := range others {
		ocfg, err := clientcmd.NewNonInteractiveClientConfig(*kc, name, nil, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %s: context %s: %w", id, name, err)
		}
		sb.Others = append(sb.Others, sandbox.OtherCluster{Name: name, Config: ocfg})
	}
	return sb, nil
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

// Destroy stops the sandbox's children and removes its data dir.
func (p *Provisioner) Destroy(ctx context.Context, id string) error {
	dir, err := p.dir(id)
	if err != nil {
		return nil // no such cluster can exist
	}
	var mine []*child
	p.mu.Lock()
	for key, c := range p.children {
		if key == id || strings.HasPrefix(key, id+"/") {
			mine = append(mine, c)
			delete(p.children, key)
		}
	}
	p.mu.Unlock()
	for _, c := range mine {
		c.kill()
	}
	for _, c := range mine {
		select {
		case <-c.exited:
		case <-ctx.Done():
			return fmt.Errorf("destroy cluster %s: wait for its processes: %w", id, ctx.Err())
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("destroy cluster %s: %w", id, err)
	}
	return nil
}

// List returns the ids of every cluster with a data dir.
func (p *Provisioner) List(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(p.o.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && validID.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Close stops every child and waits for them. The data dirs stay: a
// restarted kubelab starts their clusters again.
func (p *Provisioner) Close() {
	p.mu.Lock()
	p.closed = true
	for _, c := range p.children {
		c.kill()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// PID returns the process id of a cluster's child, 0 if none runs: id is
// a sandbox id, or id/NAME for its further cluster NAME.
func (p *Provisioner) PID(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.children[id]; c != nil {
		select {
		case <-c.exited:
		default:
			return int(c.pid.Load())
		}
	}
	return 0
}

const (
	layoutFile = "nodes"
	readyFile  = "ready"
	logFile    = "cluster.log"
	othersFile = "others"   // the names of a sandbox's further clusters, in order
	othersDir  = "others.d" // their data dirs
)

func writeOthers(dir string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, othersFile), []byte(strings.Join(names, "\n")+"\n"), 0o600)
}

// readOthers returns the names of a sandbox's further clusters.
func readOthers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, othersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read further clusters: %w", err)
	}
	names := strings.Fields(string(b))
	for _, n := range names {
		if !validID.MatchString(n) {
			return nil, fmt.Errorf("read further clusters: bad name %q", n)
		}
	}
	return names, nil
}

func writeLayout(dir string, nodes []string) error {
	return os.WriteFile(filepath.Join(dir, layoutFile), []byte(strings.Join(nodes, "\n")+"\n"), 0o600)
}

func readLayout(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, layoutFile))
	if err != nil {
		return nil, fmt.Errorf("read node layout: %w", err)
	}
	return strings.Fields(string(b)), nil
}
