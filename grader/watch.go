package grader

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// debounce collects a burst of object changes (a rollout touches many
// objects at once) into one re-evaluation, measured from the first change so
// a steady stream cannot postpone results forever.
const debounce = 30 * time.Millisecond

// Exec and probe checks can change without any API event (a learner writes
// a file inside a container) and they are expensive: a task with one is
// also re-evaluated every activeEvery while it has not passed, and never
// sooner than activeGap after its last evaluation ended.
const (
	activeEvery = 10 * time.Second
	activeGap   = 5 * time.Second
)

// watchKey is one kind in one namespace of one cluster: what one informer
// covers.
type watchKey struct {
	cluster string // "" the primary one
	gvr     schema.GroupVersionResource
	ns      string
}

// Watch grades the chapter live: it runs informers (namespaced to the
// sandbox) for exactly the kinds the checks read, and after every change
// re-evaluates only the tasks that read that kind in that namespace, from
// the informer caches. A task with exec or probe checks is re-evaluated
// also when a Pod of their namespace changes and, until it passes, every
// activeEvery; at most once per activeGap. fn is called from Watch's
// goroutine, first with every task once the caches have synced, then with
// only the tasks whose result changed. Watch returns nil when ctx ends,
// after every informer goroutine has stopped; it returns an error only if
// it cannot start.
func (p *Program) Watch(ctx context.Context, t Target, fn func(changed []TaskResult)) error {
	if t.Dynamic == nil {
		return errors.New("watch: the target has no client")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu    sync.Mutex
		dirty = map[int]bool{}
		kick  = make(chan struct{}, 1)
	)
	inf, err := p.startInformers(ctx, t, func(tasks map[int]bool) {
		mu.Lock()
		for i := range tasks {
			dirty[i] = true
		}
		mu.Unlock()
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer inf.stop()
	if !p.waitSynced(ctx, inf, fn) {
		return nil // ctx ended before the caches filled
	}
	srcs := inf.sources(t)

	mu.Lock()
	clear(dirty)
	mu.Unlock()
	active := make([]bool, len(p.tasks))
	activeEnded := make([]time.Time, len(p.tasks)) // when its last evaluation ended
	anyActive := false
	for i, ct := range p.tasks {
		active[i] = ct.hasActive()
		anyActive = anyActive || active[i]
	}
	var tick <-chan time.Time // nil: no task needs the tick
	if anyActive {
		ticker := time.NewTicker(activeEvery)
		defer ticker.Stop()
		tick = ticker.C
	}
	eval := func(i int) TaskResult {
		r := p.evalTask(ctx, t, srcs, p.tasks[i])
		if active[i] {
			activeEnded[i] = time.Now()
		}
		return r
	}
	last := make([]TaskResult, len(p.tasks))
	for i := range p.tasks {
		last[i] = eval(i)
	}
	if ctx.Err() != nil {
		return nil
	}
	fn(append([]TaskResult(nil), last...))

	timer := time.NewTimer(debounce)
	timer.Stop()
	retry := time.NewTimer(activeGap) // for tasks held back by activeGap
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			timer.Reset(debounce)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		case <-tick:
			mu.Lock()
			for i := range p.tasks {
				if active[i] && !last[i].Passed {
					dirty[i] = true
				}
			}
			mu.Unlock()
		case <-retry.C:
		}
		mu.Lock()
		now := time.Now()
		var todo []int
		var wait time.Duration
		for i := range p.tasks { // chapter order
			if !dirty[i] {
				continue
			}
			if gap := activeGap - now.Sub(activeEnded[i]); active[i] && gap > 0 {
				if wait == 0 || gap < wait {
					wait = gap
				}
				continue // stays dirty
			}
			todo = append(todo, i)
			delete(dirty, i)
		}
		mu.Unlock()
		if wait > 0 {
			retry.Reset(wait)
		}
		var changed []TaskResult
		for _, i := range todo {
			r := eval(i)
			if ctx.Err() != nil {
				return nil
			}
			if !reflect.DeepEqual(r, last[i]) {
				last[i] = r
				changed = append(changed, r)
			}
		}
		if len(changed) > 0 {
			fn(changed)
		}
	}
}

// informers are the running informers of one Watch.
type informers struct {
	listers   map[watchKey]cache.GenericLister
	factories map[factoryKey]dynamicinformer.DynamicSharedInformerFactory
	synced    []cache.InformerSynced
	cancel    context.CancelFunc
}

// startInformers starts one informer per (kind, namespace) the checks read,
// and one for the Pods of each namespace an exec or probe check works in;
// after each change of an object, changed gets the indexes of the tasks
// that read its kind in its namespace. A check whose kind or namespace does
// not resolve is left to evalCheck, which reports it. The informers leave
// out the grader's own objects (probe Pods), so a probe triggers nothing.
func (p *Program) startInformers(ctx context.Context, t Target, changed func(tasks map[int]bool)) (*informers, error) {
	affects := map[watchKey]map[int]bool{}
	for i, ct := range p.tasks {
		for _, cc := range ct.checks {
			tc, err := t.on(cc.spec.Cluster)
			if err != nil {
				continue
			}
			gvr, ns := podsGVR, ""
			if cc.source == fromResource {
				gvr, ns, err = tc.locate(cc.namespace(), cc.gvk)
			} else {
				ns, err = tc.namespace(cc.namespace())
			}
			if err != nil {
				continue
			}
			affect := func(k watchKey) {
				if affects[k] == nil {
					affects[k] = map[int]bool{}
				}
				affects[k][i] = true
			}
			affect(watchKey{cc.spec.Cluster, gvr, ns})
			for _, b := range cc.with { // a change of a bound object matters too
				if bgvr, bns, err := tc.locate(b.spec.Namespace, b.gvk); err == nil {
					affect(watchKey{cc.spec.Cluster, bgvr, bns})
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	in := &informers{
		listers:   map[watchKey]cache.GenericLister{},
		factories: map[factoryKey]dynamicinformer.DynamicSharedInformerFactory{},
		cancel:    cancel,
	}
	for k, tasks := range affects {
		tc, _ := t.on(k.cluster) // resolved above
		fk := factoryKey{k.cluster, k.ns}
		f := in.factories[fk]
		if f == nil {
			f = dynamicinformer.NewFilteredDynamicSharedInformerFactory(tc.Dynamic, 0, k.ns, func(o *metav1.ListOptions) {
				o.LabelSelector = learnersOnly
			})
			in.factories[fk] = f
		}
		gi := f.ForResource(k.gvr)
		h := func(any) { changed(tasks) }
		if _, err := gi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    h,
			UpdateFunc: func(_, _ any) { changed(tasks) },
			DeleteFunc: h,
		}); err != nil {
			in.stop()
			return nil, fmt.Errorf("watch %s in %s: %w", k.gvr.Resource, k.ns, err)
		}
		in.listers[k] = gi.Lister()
		in.synced = append(in.synced, gi.Informer().HasSynced)
	}
	for _, f := range in.factories {
		f.Start(ctx.Done())
	}
	return in, nil
}

// waitSynced waits for the caches; if they take longer than a check may,
// the sandbox's API is not answering and fn learns so (every check with an
// Error) while the informers keep trying.
func (p *Program) waitSynced(ctx context.Context, in *informers, fn func([]TaskResult)) bool {
	wctx, cancel := context.WithTimeout(ctx, p.checkTimeout())
	ok := in.waitSynced(wctx)
	cancel()
	if ok || ctx.Err() != nil {
		return ok
	}
	out := make([]TaskResult, len(p.tasks))
	for i, ct := range p.tasks {
		r := TaskResult{ID: ct.task.ID, Title: ct.task.Title, Points: max(ct.task.Points, 1)}
		for _, cc := range ct.checks {
			r.Checks = append(r.Checks, CheckResult{Message: cc.spec.Message,
				Error: fmt.Sprintf("timed out: the sandbox's API did not answer within %s", p.checkTimeout())})
		}
		out[i] = r
	}
	fn(out)
	return in.waitSynced(ctx)
}

func (in *informers) waitSynced(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), in.synced...)
}

// stop ends the informers and waits for their goroutines.
func (in *informers) stop() {
	in.cancel()
	for _, f := range in.factories {
		f.Shutdown()
	}
}

// factoryKey is what one informer factory covers: a namespace of a cluster.
type factoryKey struct{ cluster, ns string }

// sources read each of t's clusters from the informer caches.
func (in *informers) sources(t Target) sources {
	s := sources{"": cacheSource{listers: in.listers}}
	for name := range t.Others {
		s[name] = cacheSource{listers: in.listers, cluster: name}
	}
	return s
}

// cacheSource reads one cluster from the informer caches of Watch.
type cacheSource struct {
	listers map[watchKey]cache.GenericLister
	cluster string
}

// lister reads one namespace, or cluster-scoped objects when ns is "".
func (s cacheSource) lister(gvr schema.GroupVersionResource, ns string) (cache.GenericNamespaceLister, error) {
	l, ok := s.listers[watchKey{s.cluster, gvr, ns}]
	if !ok {
		return nil, fmt.Errorf("%s%s is not watched", gvr.Resource, inNamespace(ns))
	}
	if ns == "" {
		return l, nil
	}
	return l.ByNamespace(ns), nil
}

func (s cacheSource) get(_ context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	l, err := s.lister(gvr, ns)
	if err != nil {
		return nil, err
	}
	obj, err := l.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s from cache: %w", gvr.Resource, ns, name, err)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("get %s %s/%s from cache: unexpected %T", gvr.Resource, ns, name, obj)
	}
	return u, nil
}

func (s cacheSource) list(_ context.Context, gvr schema.GroupVersionResource, ns string, sel labels.Selector) ([]*unstructured.Unstructured, error) {
	l, err := s.lister(gvr, ns)
	if err != nil {
		return nil, err
	}
	if sel == nil {
		sel = labels.Everything()
	}
	objs, err := l.List(sel)
	if err != nil {
		return nil, fmt.Errorf("list %s in %s from cache: %w", gvr.Resource, ns, err)
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	return out, nil
}
