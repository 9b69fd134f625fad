// Package simcluster owns kubelab's embedded simulated Kubernetes cluster: a
// real etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// (v1.36.1) plus kwok-managed fake nodes, all running inside the kubelab
// process. Pods are scheduled and reported Running/Ready with pod IPs, Jobs
// complete, but no container ever runs: `kubectl exec`, attach and
// port-forward are refused with a message saying the cluster is simulated,
// and `kubectl logs` returns a short canned text.
//
// Every listener binds 127.0.0.1 on a port picked free at first start and
// recorded in DataDir/state.json (reused when still free, so kubeconfigs stay
// valid across restarts): the API server, etcd client and peer (TLS with
// client certificates signed by the cluster CA: a plain client is refused) and
// the kubelet stand-in that serves logs. The controller manager and scheduler
// serve nothing. Two clusters (two processes, two data dirs) run side by side.
//
// DataDir layout: pki/ (CA, certificates, service-account key; generated on
// first start, then reused), etcd/ (all objects; survive restarts),
// admin.kubeconfig, kubeconfigs/ (per component), state.json, etcd.log.
// Each start gives kwok a fresh /18 pod CIDR (state.json "starts"), so pod IPs
// do not repeat those of pods from earlier runs (kwok's IP pool is in memory).
//
// The Kubernetes components keep process-wide state (feature gates, the
// component-globals registry, klog, the metrics registry), so Start may be
// called only ONCE per process; a second call returns an error, even after
// Stop. Tests that need a restart re-exec the test binary.
//
// Stop leaves no listener behind. About 14 goroutines remain after Stop, all
// from Kubernetes/kwok code that offers no way to stop them: client-go
// workqueue and event-broadcaster loops, a client-certificate reloader, the
// os/signal receiver of the scheduler's SIGUSR2 cache dumper and kwok's queue
// workers. They are idle. No component installs a SIGINT/SIGTERM handler:
// the caller owns signals and calls Stop.
package simcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configure Start.
type Options struct {
	// DataDir holds PKI, etcd data, kubeconfigs and port assignments. It is
	// created if missing and reused on the next start.
	DataDir string
	// Nodes is the number of simulated nodes (default 3), named node-1,
	// node-2, … unless NodeNames names them.
	Nodes int
	// NodeNames names the simulated nodes (Nodes is then their number).
	NodeNames []string
	// ControlPlaneNode, one of NodeNames, is labelled and tainted as
	// kubeadm does a control-plane node, so ordinary Pods avoid it.
	ControlPlaneNode string
	// PodsPerNode is each node's pod capacity (default 110).
	PodsPerNode int
	// Capacity is what the nodes must offer together, e.g. the most
	// sandboxes at once times each one's quota: each node gets its share,
	// and never less than the defaults (32 CPUs, 256Gi memory, PodsPerNode
	// pods). Without it a few full sandboxes leave everyone else's pods
	// Pending.
	Capacity corev1.ResourceList
	// Log receives the cluster's own messages and Kubernetes warnings/errors.
	// Nil discards them.
	Log *slog.Logger
}

// Cluster is a running simulated cluster.
type Cluster struct {
	opts       Options
	log        *slog.Logger
	pki        pki
	state      state
	admin      *rest.Config
	kubeconfig string
	endpoint   string

	// Components in start order; Stop cancels them in reverse.
	components []*component
	// readyAfter is how long Start took until /readyz answered ok.
	readyAfter time.Duration
	stopOnce   sync.Once
	stopErr    error
}

// component is one goroutine-run control-plane part with its own context, so
// Stop can shut the parts down in order.
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

var started atomic.Bool

// Start brings the simulated cluster up and returns once the API server is
// ready and every simulated node is Ready. Start may be called only ONCE per
// process (see the package comment). ctx bounds only the start-up; use Stop to
// shut the cluster down.
//
// Start also sets two process-wide settings, as the components' own commands
// do: klog output goes to opts.Log (warnings and errors only, known benign
// messages dropped), and client-go's default API warning handler is silenced
// (this affects every client-go client in the process).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if !started.CompareAndSwap(false, true) {
		return nil, errors.New("start simcluster: Start may be called only once per process")
	}
	if opts.DataDir == "" {
		return nil, errors.New("start simcluster: DataDir is required")
	}
	if len(opts.NodeNames) > 0 {
		opts.Nodes = len(opts.NodeNames)
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.PodsPerNode <= 0 {
		opts.PodsPerNode = 110
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start simcluster: data dir: %w", err)
	}
	opts.DataDir = dataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("start simcluster: create data dir: %w", err)
	}
	c := &Cluster{opts: opts, log: opts.Log}
	installGlobals(c.log)
	if err := c.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.Stop(stopCtx)
		return nil, fmt.Errorf("start simcluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	t0 := time.Now()
	var err error
	c.pki, err = ensurePKI(filepath.Join(c.opts.DataDir, "pki"))
	if err != nil {
		return err
	}
	c.state, err = loadState(c.opts.DataDir)
	if err != nil {
		return err
	}
	c.endpoint = "https://127.0.0.1:" + strconv.Itoa(c.state.APIServerPort)
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	c.admin, err = c.restConfig("admin")
	if err != nil {
		return err
	}

	kwokCtx, err := c.kwokConfig() // before any goroutine that reads os.Args
	if err != nil {
		return fmt.Errorf("kwok: %w", err)
	}
	// Parse every component's flags before the shared component-globals
	// registry is Set, which may happen only once per process.
	kas, err := c.apiserverOptions()
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	kcm, err := c.controllerManagerOptions()
	if err != nil {
		return fmt.Errorf("kube-controller-manager options: %w", err)
	}
	sched, err := c.schedulerOptions()
	if err != nil {
		return fmt.Errorf("kube-scheduler options: %w", err)
	}
	if err := setComponentGlobals(); err != nil {
		return err
	}
	etcdStarted := make(chan error, 1)
	go func() { etcdStarted <- c.startEtcd(ctx) }()
	if err := c.startAPIServer(ctx, kas, etcdStarted); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if err := c.ensureSystemPriorityClasses(ctx); err != nil {
		return err
	}
	if c.state.RBACPolicyOf != KubernetesVersion {
		c.state.RBACPolicyOf = KubernetesVersion
		if err := c.state.save(c.opts.DataDir); err != nil {
			return err
		}
	}
	c.readyAfter = time.Since(t0)
	c.log.Debug("simcluster api server ready", "elapsed", c.readyAfter)
	if err := c.startControllerManager(ctx, kcm); err != nil {
		return fmt.Errorf("kube-controller-manager: %w", err)
	}
	if err := c.startScheduler(ctx, sched); err != nil {
		return fmt.Errorf("kube-scheduler: %w", err)
	}
	if err := c.startKwok(ctx, kwokCtx); err != nil {
		return fmt.Errorf("kwok: %w", err)
	}
	if err := c.ensureNodes(ctx); err != nil {
		return err
	}
	c.log.Info("simulated cluster started", "endpoint", c.endpoint, "kubeconfig", c.kubeconfig, "elapsed", time.Since(t0).Round(time.Millisecond))
	return nil
}

// run starts fn in a goroutine as a named component with its own context.
func (c *Cluster) run(name string, fn func(ctx context.Context) error) *component {
	ctx, cancel := context.WithCancel(context.Background())
	comp := &component{name: name, cancel: cancel, done: make(chan struct{})}
	c.components = append(c.components, comp)
	go func() {
		defer close(comp.done)
		comp.err = fn(ctx)
		if comp.err != nil && ctx.Err() == nil {
			c.log.Error("simcluster component exited", "component", name, "err", comp.err)
		}
	}()
	return comp
}

// AdminConfig returns a copy of the cluster-admin client configuration
// (client-certificate authenticated, member of system:masters).
func (c *Cluster) AdminConfig() *rest.Config { return rest.CopyConfig(c.admin) }

// KubeconfigPath returns the admin kubeconfig written under DataDir.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// Endpoint returns the API server URL, e.g. https://127.0.0.1:41234.
func (c *Cluster) Endpoint() string { return c.endpoint }

// CAPEM returns the cluster CA certificate, for kubeconfigs handed to others.
func (c *Cluster) CAPEM() ([]byte, error) { return os.ReadFile(c.pki.crt("ca")) }

// Ready reports whether the API server answers /readyz.
func (c *Cluster) Ready(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return fmt.Errorf("simcluster ready: %w", err)
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("simcluster readyz: %w: %s", err, body)
	}
	return nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var kas *component
	for _, comp := range c.components {
		if comp.name == "kube-apiserver" {
			kas = comp
		}
	}
	var last error
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-kas.done:
			return false, fmt.Errorf("kube-apiserver exited: %w", kas.err)
		default:
		}
		last = c.Ready(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for api server: %w (last: %v)", err, last)
	}
	return nil
}

// Stop shuts the components down in reverse start order (kwok, scheduler,
// controller manager, API server, etcd) and waits for each to return, so no
// listener remains afterwards. It is safe to call more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		stopping.Store(true)
		var errs []error
		for i := len(c.components) - 1; i >= 0; i-- {
			comp := c.components[i]
			comp.cancel()
			select {
			case <-comp.done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("stop %s: %w", comp.name, ctx.Err()))
			}
		}
		c.stopErr = errors.Join(errs...)
		if c.stopErr == nil {
			c.log.Info("simulated cluster stopped")
		}
	})
	return c.stopErr
}

// ensureNodes registers the simulated nodes (kwok then fills in their status)
// and waits until all are Ready.
func (c *Cluster) ensureNodes(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return err
	}
	want := nodeResources(c.opts)
	for _, name := range nodeNames(c.opts) {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
				Annotations: map[string]string{
					"kwok.x-k8s.io/node":           "fake",
					"node.alpha.kubernetes.io/ttl": "0",
				},
			},
			Status: corev1.NodeStatus{Capacity: want, Allocatable: want},
		}
		if name == c.opts.ControlPlaneNode {
			node.Labels[controlPlaneRole] = ""
			node.Labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
			node.Spec.Taints = []corev1.Taint{{Key: controlPlaneRole, Effect: corev1.TaintEffectNoSchedule}}
		}
		_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	// Nodes kept from an earlier start may have been sized for other
	// options, and kwok's server port may have changed (the API server
	// reaches logs through daemonEndpoints): bring both up to date.
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes.Items {
		status := map[string]any{}
		if p := n.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 0 && int(p) != c.state.KwokPort {
			status["daemonEndpoints"] = map[string]any{"kubeletEndpoint": map[string]any{"Port": c.state.KwokPort}}
		}
		if !sameResources(n.Status.Capacity, want) || !sameResources(n.Status.Allocatable, want) {
			status["capacity"], status["allocatable"] = want, want
		}
		if len(status) == 0 {
			continue
		}
		patch, err := json.Marshal(map[string]any{"status": status})
		if err != nil {
			return fmt.Errorf("update node %s: %w", n.Name, err)
		}
		if _, err := cs.CoreV1().Nodes().Patch(ctx, n.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("update node %s status: %w", n.Name, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= c.opts.Nodes, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %d nodes ready: %w", c.opts.Nodes, err)
	}
	return nil
}

// controlPlaneRole is kubeadm's label and taint key of a control-plane node.
const controlPlaneRole = "node-role.kubernetes.io/control-plane"

// nodeNames are the names of the simulated nodes.
func nodeNames(o Options) []string {
	if len(o.NodeNames) > 0 {
		return o.NodeNames
	}
	names := make([]string, o.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("node-%d", i+1)
	}
	return names
}

// nodeResources is each node's capacity: its share of o.Capacity, at least
// the defaults.
func nodeResources(o Options) corev1.ResourceList {
	out := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(int64(o.PodsPerNode), resource.DecimalSI),
	}
	for name, total := range o.Capacity {
		var share resource.Quantity
		if name == corev1.ResourceCPU {
			share = *resource.NewMilliQuantity(ceilDiv(total.MilliValue(), int64(o.Nodes)), resource.DecimalSI)
		} else {
			v := ceilDiv(total.Value(), int64(o.Nodes))
			if total.Format == resource.BinarySI {
				v = ceilDiv(v, 1<<20) << 20 // whole MiB, as kubectl shows them
			}
			share = *resource.NewQuantity(v, total.Format)
		}
		if cur, ok := out[name]; !ok || share.Cmp(cur) > 0 {
			out[name] = share
		}
	}
	return out
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// sameResources reports whether a and b hold equal quantities of the same
// resources.
func sameResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		if w, ok := b[name]; !ok || q.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// state is what must stay stable across restarts, kept in DataDir/state.json.
type state struct {
	APIServerPort  int `json:"apiserverPort"`
	EtcdClientPort int `json:"etcdClientPort"`
	EtcdPeerPort   int `json:"etcdPeerPort"`
	KwokPort       int `json:"kwokPort"`
	// Starts counts starts; each start hands kwok a fresh pod CIDR block so
	// pod IPs never repeat those of pods created by an earlier run (kwok's IP
	// pool lives in memory only).
	Starts int `json:"starts"`
	// RBACPolicyOf is the Kubernetes version whose bootstrap RBAC policy
	// (cluster roles and bindings) a start has finished writing; a later
	// start of the same version reconciles it in the background instead of
	// holding readiness for it.
	RBACPolicyOf string `json:"rbacPolicyOf,omitempty"`
}

// podCIDR returns this start's pod IP block: a /18 (16k addresses) out of
// 10.128.0.0/9, cycling after 512 starts.
func (s state) podCIDR() string {
	block := s.Starts % 512
	ip := 10<<24 | 128<<16 + block<<14
	return fmt.Sprintf("%d.%d.%d.0/18", ip>>24&255, ip>>16&255, ip>>8&255)
}

func loadState(dir string) (state, error) {
	path := filepath.Join(dir, "state.json")
	var s state
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return s, fmt.Errorf("read state: %w", err)
	default:
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	s.Starts++
	taken := map[int]bool{}
	for _, p := range []*int{&s.APIServerPort, &s.EtcdClientPort, &s.EtcdPeerPort, &s.KwokPort} {
		// Reuse the recorded port so earlier kubeconfigs stay valid, unless
		// something else holds it now.
		if *p != 0 && !taken[*p] && portFree(*p) {
			taken[*p] = true
			continue
		}
		np, err := freePort(taken)
		if err != nil {
			return s, err
		}
		*p = np
		taken[np] = true
	}
	return s, s.save(dir)
}

func (s state) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freePort(taken map[int]bool) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !taken[p] {
			return p, nil
		}
	}
	return 0, errors.New("pick free port: none found")
}
