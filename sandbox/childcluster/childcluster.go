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
// The parent and the child speak through the environment variable EnvChild
// (a JSON childConfig) and a file: the child writes DataDir/ready once its
// nodes are Ready. Whatever binary Options.Command names must call Child
// when it finds EnvChild set: kubelab's main does, and so do tests' TestMain.
package childcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

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
	children map[string]*child // by sandbox id: started, starting or exited
	closed   bool
	wg       sync.WaitGroup // one waiter goroutine per child
}

// child is one child process.
type child struct {
	cmd     *exec.Cmd     // only run's goroutine uses it
	pid     atomic.Int64  // 0 until started
	stopped atomic.Bool   // kill was called: a child starting now is killed at once
	ready   chan struct{} // closed once the cluster is usable
	exited  chan struct{} // closed once the process has been waited for
	err     error         // why it exited or failed to start; read after exited or ready
	failed  bool          // set (before ready closes) when the start failed
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
	if err := p.ensure(ctx, id, dir); err != nil {
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
// every backend, and returns the sandbox.
func (p *Provisioner) named(id, dir, chapter string) (*sandbox.Sandbox, error) {
	if chapter != "" {
		kc, err := clientcmd.LoadFromFile(filepath.Join(dir, "admin.kubeconfig"))
		if err != nil {
			return nil, fmt.Errorf("cluster %s: read kubeconfig: %w", id, err)
		}
		for name, c := range kc.Contexts {
			delete(kc.Contexts, name)
			kc.Contexts[chapter] = c
		}
		kc.CurrentContext = chapter
		if err := clientcmd.WriteToFile(*kc, filepath.Join(dir, "learner.kubeconfig")); err != nil {
			return nil, fmt.Errorf("cluster %s: write kubeconfig: %w", id, err)
		}
	}
	return p.sandbox(id, dir)
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

// ensureExisting is ensure for a cluster that must have been created.
func (p *Provisioner) ensureExisting(ctx context.Context, id, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, layoutFile)); err != nil {
		return fmt.Errorf("cluster %s: %w", id, sandbox.ErrNotFound)
	}
	return p.ensure(ctx, id, dir)
}

func (p *Provisioner) sandbox(id, dir string) (*sandbox.Sandbox, error) {
	path := filepath.Join(dir, "learner.kubeconfig")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) { // a warm cluster: nobody's yet
		raw, err = os.ReadFile(filepath.Join(dir, "admin.kubeconfig"))
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: read kubeconfig: %w", id, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: parse kubeconfig: %w", id, err)
	}
	return &sandbox.Sandbox{ID: id, Backend: "simcluster", Namespace: "default", Config: cfg, Kubeconfig: raw,
		Server: cfg.Host, Simulated: true, Cluster: true}, nil
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

// Destroy stops the cluster's child and removes its data dir.
func (p *Provisioner) Destroy(ctx context.Context, id string) error {
	dir, err := p.dir(id)
	if err != nil {
		return nil // no such cluster can exist
	}
	p.mu.Lock()
	c := p.children[id]
	delete(p.children, id)
	p.mu.Unlock()
	if c != nil {
		c.kill()
		select {
		case <-c.exited:
		case <-ctx.Done():
			return fmt.Errorf("destroy cluster %s: wait for its process: %w", id, ctx.Err())
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

// PID returns the process id of the cluster's child, 0 if none runs.
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

// ensure waits until the child of cluster id is usable, starting it if none
// runs (a first start, or again after kubelab restarted).
func (p *Provisioner) ensure(ctx context.Context, id, dir string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("cluster %s: kubelab is shutting down", id)
	}
	c := p.children[id]
	if c != nil {
		select {
		case <-c.exited:
			c = nil // gone: start it again
		default:
		}
	}
	if c == nil {
		c = &child{ready: make(chan struct{}), exited: make(chan struct{})}
		p.children[id] = c
		p.wg.Go(func() { p.run(id, dir, c) })
	}
	p.mu.Unlock()
	select {
	case <-c.ready:
		if c.failed {
			return c.err
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start cluster %s: %w", id, ctx.Err())
	}
}

// run starts the child, marks it ready once its ready file appears, and
// waits for it to exit. It owns the process.
func (p *Provisioner) run(id, dir string, c *child) {
	defer close(c.exited)
	fail := func(err error) {
		c.err, c.failed = err, true
		close(c.ready)
	}
	p.sem <- struct{}{}
	released := false
	release := func() {
		if !released {
			released = true
			<-p.sem
		}
	}
	defer release()
	if err := p.start(id, dir, c); err != nil {
		fail(err)
		return
	}
	waited := make(chan error, 1)
	go func() { waited <- c.cmd.Wait() }()
	deadline := time.NewTimer(p.o.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-waited:
			fail(fmt.Errorf("start cluster %s: the cluster process exited (%v): %s", id, err, logTail(dir)))
			return
		case <-deadline.C:
			c.kill()
			<-waited
			fail(fmt.Errorf("start cluster %s: not ready within %s: %s", id, p.o.StartTimeout, logTail(dir)))
			return
		case <-tick.C:
			if _, err := os.Stat(filepath.Join(dir, readyFile)); err != nil {
				continue
			}
		}
		break
	}
	release()
	close(c.ready)
	err := <-waited
	p.mu.Lock()
	closing := p.closed || p.children[id] != c
	p.mu.Unlock()
	if !closing {
		p.o.Log.Warn("simulated cluster process exited", "sandbox_id", id, "err", err, "log", logTail(dir))
	}
	c.err = fmt.Errorf("cluster %s: process exited: %v", id, err)
}

func (p *Provisioner) start(id, dir string, c *child) error {
	_ = os.Remove(filepath.Join(dir, readyFile))
	nodes, err := readLayout(dir)
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	cfg, err := json.Marshal(childConfig{DataDir: dir, Nodes: nodes, Parent: os.Getpid()})
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	defer logf.Close() // the child holds its own copy
	if len(p.o.Command) == 0 {
		return fmt.Errorf("start cluster %s: no command to run a cluster", id)
	}
	cmd := exec.Command(p.o.Command[0], p.o.Command[1:]...)
	cmd.Env = slices.Concat(os.Environ(), childTuning, p.o.Env, []string{EnvChild + "=" + string(cfg)})
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// Its own process group (a signal to kubelab's terminal does not reach
	// it), and killed by the kernel when kubelab dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	c.cmd = cmd
	c.pid.Store(int64(cmd.Process.Pid))
	if c.stopped.Load() { // destroyed while starting
		c.kill()
	}
	return nil
}

// kill ends the child and anything it started.
func (c *child) kill() {
	c.stopped.Store(true)
	if pid := c.pid.Load(); pid > 0 {
		_ = syscall.Kill(-int(pid), syscall.SIGKILL)
	}
}

// childTuning trades a little CPU for memory in clusters that mostly idle
// side by side: measured on 4 idle clusters (BenchmarkIdleFootprint), the
// collector at GOGC=25 keeps 165 MiB private memory each at 2.5 % of a core,
// against 209 MiB at the default; a GOMEMLIMIT near the live heap costs
// 11–36 % of a core.
var childTuning = []string{"GOGC=25"}

const (
	layoutFile = "nodes"
	readyFile  = "ready"
	logFile    = "cluster.log"
)

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

// logTail is the end of a child's log, for an error message.
func logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil || len(b) == 0 {
		return "no log"
	}
	const max = 600
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
