package grader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Target is one learner's sandbox as the grader sees it: a client with
// kubelab's own credentials, and the only namespaces it may read. Every read
// the grader makes is a namespaced request to Namespace or one of the values
// of Namespaces, so a check can never see outside the sandbox.
type Target struct {
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// Config and Kube run exec and probe checks (pods/exec, probe Pods and
	// their logs); without them those checks report an Error.
	Config     *rest.Config
	Kube       kubernetes.Interface
	Namespace  string            // the sandbox's primary namespace
	Namespaces map[string]string // extra namespaces: logical name → real name
	// Cluster: the sandbox is a whole cluster of the learner's own. Checks
	// then read cluster-scoped kinds, and a check's namespace is a real
	// namespace name.
	Cluster bool
	// Others are the learner's further clusters by name (each a Target
	// with Cluster set); a check with `cluster: NAME` reads NAME's.
	Others map[string]Target

	// active holds the one exec or probe check of this sandbox that may
	// run at a time; copies of a Target (live grading and the Check button
	// share one) share it. Nil (a Target not from NewTarget) means no limit.
	active chan struct{}
}

// NewTarget builds a Target from kubelab's (admin) client configuration and
// the sandbox's namespaces. The REST mapper is discovery-backed and cached:
// it asks the API server once, and again only for a kind it does not know
// (e.g. a CRD created later).
func NewTarget(cfg *rest.Config, namespace string, extra map[string]string) (Target, error) {
	if namespace == "" {
		return Target{}, errors.New("grader target: namespace is required")
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Target{}, fmt.Errorf("grader target: dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return Target{}, fmt.Errorf("grader target: discovery client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Target{}, fmt.Errorf("grader target: clientset: %w", err)
	}
	mapper := restmapper.NewShortcutExpander(
		restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dc, nil)
	return Target{Dynamic: dyn, Mapper: mapper, Config: cfg, Kube: kube, Namespace: namespace, Namespaces: extra,
		active: make(chan struct{}, 1)}, nil
}

// lockActive waits until no other exec or probe check of the sandbox runs:
// they are expensive, and a probe Pod must not be counted by another probe.
func (t Target) lockActive(ctx context.Context) (release func(), err error) {
	if t.active == nil {
		return func() {}, nil
	}
	select {
	case t.active <- struct{}{}:
		return func() { <-t.active }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the sandbox's other exec or probe check: %w", ctx.Err())
	}
}

// on is the target of one of the sandbox's clusters: "" the primary one.
func (t Target) on(cluster string) (Target, error) {
	if cluster == "" {
		return t, nil
	}
	o, ok := t.Others[cluster]
	if !ok {
		return Target{}, fmt.Errorf("the sandbox has no cluster %q", cluster)
	}
	return o, nil
}

// sources are the sources of one evaluation, one per cluster ("" the
// primary one).
type sources map[string]source

// of is the target and source check cc reads.
func (s sources) of(t Target, cc *compiledCheck) (Target, source, error) {
	tc, err := t.on(cc.spec.Cluster)
	if err != nil {
		return Target{}, nil, err
	}
	src, ok := s[cc.spec.Cluster]
	if !ok {
		return Target{}, nil, fmt.Errorf("cluster %q is not read", cc.spec.Cluster)
	}
	return tc, src, nil
}

// apiSources read each of t's clusters through the API, remembering what
// one evaluation read.
func apiSources(t Target) sources {
	m := sources{"": newMemoSource(apiSource{dyn: t.Dynamic, cluster: t.Cluster})}
	for name, o := range t.Others {
		m[name] = newMemoSource(apiSource{dyn: o.Dynamic, cluster: o.Cluster})
	}
	return m
}

// namespace resolves a check's logical namespace to the real one; in a
// cluster of the learner's own, names are real already.
func (t Target) namespace(logical string) (string, error) {
	if logical == "" {
		if t.Namespace == "" {
			return "", errors.New("the sandbox has no namespace")
		}
		return t.Namespace, nil
	}
	if t.Cluster {
		return logical, nil
	}
	ns, ok := t.Namespaces[logical]
	if !ok || ns == "" {
		return "", fmt.Errorf("the sandbox has no namespace %q", logical)
	}
	return ns, nil
}

// locate resolves where a check of kind gvk in logical namespace reads:
// the resource that serves the kind and the real namespace, "" for a
// cluster-scoped kind, which only a cluster of the learner's own lets
// checks read (in a namespace sandbox, cluster-scoped objects are not the
// learner's).
func (t Target) locate(logical string, gvk schema.GroupVersionKind) (schema.GroupVersionResource, string, error) {
	if t.Mapper == nil {
		return schema.GroupVersionResource{}, "", errors.New("the target has no REST mapper")
	}
	m, err := t.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, "", fmt.Errorf("kind %s: %w", gvk.Kind, err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		if !t.Cluster {
			return schema.GroupVersionResource{}, "", fmt.Errorf("kind %s is cluster-scoped; checks read only the sandbox's namespaces (a chapter with sandbox: cluster can read it)", gvk.Kind)
		}
		return m.Resource, "", nil
	}
	ns, err := t.namespace(logical)
	if err != nil {
		return schema.GroupVersionResource{}, "", err
	}
	return m.Resource, ns, nil
}

// source reads objects for a check: the API (on demand) or informer caches
// (live).
type source interface {
	// get returns nil, nil when the object does not exist.
	get(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error)
	list(ctx context.Context, gvr schema.GroupVersionResource, ns string, sel labels.Selector) ([]*unstructured.Unstructured, error)
}

// Objects the grader makes (probe Pods) carry this label, and the grader's
// own reads leave them out (learnersOnly): a probe must never change what a
// check counts.
const (
	managedByLabel  = "app.kubernetes.io/managed-by"
	managedByGrader = "kubelab-grader"
	learnersOnly    = managedByLabel + "!=" + managedByGrader
)

// apiSource reads through the dynamic client, namespaced unless the
// sandbox is a whole cluster.
type apiSource struct {
	dyn     dynamic.Interface
	cluster bool // cluster-scoped reads (ns "") are the sandbox's own
}

func (s apiSource) get(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	if ns == "" && !s.cluster {
		return nil, errors.New("refusing a read outside the sandbox's namespaces")
	}
	obj, err := s.dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	return obj, nil
}

func (s apiSource) list(ctx context.Context, gvr schema.GroupVersionResource, ns string, sel labels.Selector) ([]*unstructured.Unstructured, error) {
	if ns == "" && !s.cluster {
		return nil, errors.New("refusing a read outside the sandbox's namespaces")
	}
	opts := metav1.ListOptions{LabelSelector: learnersOnly}
	if sel != nil && !sel.Empty() {
		opts.LabelSelector = sel.String() + "," + learnersOnly
	}
	l, err := s.dyn.Resource(gvr).Namespace(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", gvr.Resource, ns, err)
	}
	out := make([]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		out[i] = &l.Items[i]
	}
	return out, nil
}

// memoSource remembers the reads of one evaluation, so checks that look at
// the same object (most checks of a chapter do) cost one request and see one
// consistent state. Failed reads are not remembered: the next check retries.
type memoSource struct {
	mu    sync.Mutex // prefetch fills it concurrently
	src   source
	gets  map[string]*unstructured.Unstructured
	lists map[string][]*unstructured.Unstructured
}

func newMemoSource(src source) *memoSource {
	return &memoSource{src: src, gets: map[string]*unstructured.Unstructured{}, lists: map[string][]*unstructured.Unstructured{}}
}

func (m *memoSource) get(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	k := gvr.String() + "|" + ns + "|" + name
	m.mu.Lock()
	obj, ok := m.gets[k]
	m.mu.Unlock()
	if ok {
		return obj, nil
	}
	obj, err := m.src.get(ctx, gvr, ns, name)
	if err == nil {
		m.mu.Lock()
		m.gets[k] = obj
		m.mu.Unlock()
	}
	return obj, err
}

func (m *memoSource) list(ctx context.Context, gvr schema.GroupVersionResource, ns string, sel labels.Selector) ([]*unstructured.Unstructured, error) {
	k := gvr.String() + "|" + ns
	if sel != nil {
		k += "|" + sel.String()
	}
	m.mu.Lock()
	objs, ok := m.lists[k]
	m.mu.Unlock()
	if ok {
		return append([]*unstructured.Unstructured(nil), objs...), nil
	}
	objs, err := m.src.list(ctx, gvr, ns, sel)
	if err == nil {
		m.mu.Lock()
		m.lists[k] = objs
		m.mu.Unlock()
	}
	return append([]*unstructured.Unstructured(nil), objs...), err
}

// kindPlural is a readable plural for details ("3 Pods").
func kindPlural(kind string) string {
	switch {
	case strings.HasSuffix(kind, "ss"), strings.HasSuffix(kind, "x"):
		return kind + "es"
	case strings.HasSuffix(kind, "s"): // Endpoints
		return kind
	case strings.HasSuffix(kind, "y") && !strings.HasSuffix(kind, "ey"):
		return kind[:len(kind)-1] + "ies"
	}
	return kind + "s"
}
