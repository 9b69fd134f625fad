package kindcluster_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/kindcluster"
	"github.com/kubelab/kubelab/sandbox/kindcluster/kindtest"
)

// fakeKind stands in for kind: it writes a kubeconfig and records clusters.
type fakeKind struct {
	mu       sync.Mutex
	clusters []string
	release  chan struct{} // nil: creates finish at once
	running  int
	peak     int
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
current-context: c
`

func (f *fakeKind) Create(name, _, kc string) error {
	f.mu.Lock()
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	if f.release != nil {
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	f.clusters = append(f.clusters, name)
	return os.WriteFile(kc, []byte(kubeconfig), 0o600)
}

func (f *fakeKind) Delete(name, kc string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters = slices.DeleteFunc(f.clusters, func(s string) bool { return s == name })
	return nil
}

func (f *fakeKind) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.clusters), nil
}

func TestLifecycleThroughSeam(t *testing.T) {
	t.Parallel()
	fk := &fakeKind{}
	p := kindcluster.New(kindcluster.Options{Dir: t.TempDir(), Kind: fk})
	ctx := t.Context()
	sb, err := p.Create(ctx, "a1", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Backend != "kind" || sb.Config == nil || len(sb.Kubeconfig) == 0 {
		t.Errorf("sandbox = %+v", sb)
	}
	if _, err := p.Create(ctx, "a1", sandbox.Spec{}); err != nil {
		t.Errorf("second create: %v", err)
	}
	ids, _ := p.List(ctx)
	if !slices.Equal(ids, []string{"a1"}) {
		t.Errorf("List = %v, want [a1]", ids)
	}
	for range 2 {
		if err := p.Destroy(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Get(ctx, "a1"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Get after Destroy: %v, want ErrNotFound", err)
	}
}

func TestAbandonedCreateIsDeletedAndConcurrencyBounded(t *testing.T) {
	t.Parallel()
	fk := &fakeKind{release: make(chan struct{})}
	p := kindcluster.New(kindcluster.Options{Dir: t.TempDir(), Kind: fk, MaxConcurrent: 2})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, id := range []string{"b1", "b2", "b3", "b4"} {
		wg.Go(func() { _, _ = p.Create(ctx, id, sandbox.Spec{}) })
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	for _, id := range []string{"b1", "b2", "b3", "b4"} {
		if err := p.Destroy(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	close(fk.release)
	p.Close() // the creates end, and delete what was destroyed meanwhile
	if ids, _ := fk.List(); len(ids) != 0 {
		t.Errorf("clusters left after abandoned creates: %v", ids)
	}
	if fk.peak > 2 {
		t.Errorf("peak concurrent creates = %d, want ≤ 2", fk.peak)
	}
}

// TestRealKind creates and deletes a real kind cluster from the node image
// scripts/kind-up built. Without Docker or that image it fails, saying how to
// get them: kind's own image cannot be pulled here.
func TestRealKind(t *testing.T) {
	image := kindtest.Image(t)
	p := kindcluster.New(kindcluster.Options{Dir: t.TempDir(), Image: image, Instance: "kctest"})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var steps []string
	sb, err := p.Create(ctx, "it", sandbox.Spec{Chapter: "nodes", Progress: func(step string) { steps = append(steps, step) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy(context.WithoutCancel(ctx), "it")
	if diff := cmp.Diff([]string{"cluster"}, steps); diff != "" {
		t.Errorf("progress steps (-want +got):\n%s", diff)
	}
	cfg, err := clientcmd.Load(sb.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "nodes" || len(cfg.Contexts) != 1 {
		t.Errorf("kubeconfig contexts = %v, current %q; want only \"nodes\"", slices.Collect(maps.Keys(cfg.Contexts)), cfg.CurrentContext)
	}
	cs, err := kubernetes.NewForConfig(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes of the new cluster: %v", err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Name != "kl-kctest-it-control-plane" {
		t.Errorf("nodes = %d, want kl-kctest-it-control-plane", len(nodes.Items))
	}
	if ids, _ := p.List(ctx); !slices.Contains(ids, "it") {
		t.Errorf("List = %v, want it", ids)
	}
	if err := p.Destroy(ctx, "it"); err != nil {
		t.Fatal(err)
	}
	if ids, _ := p.List(ctx); slices.Contains(ids, "it") {
		t.Errorf("List after Destroy = %v", ids)
	}
}
