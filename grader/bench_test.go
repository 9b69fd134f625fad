package grader_test

import (
	"context"
	"fmt"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
)

// benchChapter is shaped like a real chapter: 8 tasks, 16 checks over
// Deployments, Pods and ConfigMaps, by name and by selector.
func benchChapter() *labs.Chapter {
	deploy := labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	front := labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "tier=front"}
	cm := labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", Namespace: "dev"}
	ch := &labs.Chapter{ID: "bench"}
	for i := range 8 {
		ch.Tasks = append(ch.Tasks, &labs.Task{ID: fmt.Sprintf("t%d", i), Points: 2, Checks: []labs.Check{
			{Resource: deploy, Expect: "object.spec.replicas == 2 && object.spec.template.spec.containers.exists(c, c.image == 'nginx:1.25')"},
			[]labs.Check{
				{Resource: front, Match: labs.MatchAll, Expect: "object.spec.containers.all(c, c.image.matches('^[a-z]+:[0-9.]+$'))"},
				{Resource: front, Match: labs.MatchCount, Min: intp(2), Expect: "object.spec.containers[0].image.startsWith('nginx')"},
				{Resource: cm, Expect: "object.data.mode == 'dev'"},
				{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "missing"}},
			}[i%4],
		}})
	}
	return ch
}

func percentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

func benchSandbox(b *testing.B) (sandbox, *grader.Program) {
	// The benchmarks evaluate back to back, far faster than a learner
	// clicks; client-go's rate limiter (200 QPS) would be what they measure.
	cfg := simclustertest.Cluster(b).AdminConfig()
	cfg.QPS = -1
	s := newSandboxWithConfig(b, cfg)
	s.apply(b, s.ns, objects)
	s.apply(b, s.dev, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: dev}")
	prog, err := grader.Compile(benchChapter())
	if err != nil {
		b.Fatalf("Compile: %v", err)
	}
	return s, prog
}

// BenchmarkEvaluateChapter grades every check of a chapter on demand,
// reading the API (the "Check" button path).
func BenchmarkEvaluateChapter(b *testing.B) {
	s, prog := benchSandbox(b)
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		prog.Evaluate(b.Context(), s.target)
		d = append(d, time.Since(t0))
	}
	percentiles(b, d)
}

// BenchmarkEvaluateChapterCached grades every check of a chapter from the
// informer caches (the live path after a change).
func BenchmarkEvaluateChapterCached(b *testing.B) {
	s, prog := benchSandbox(b)
	eval, stop, err := prog.EvaluateFromCaches(b.Context(), s.target)
	if err != nil {
		b.Fatalf("informers: %v", err)
	}
	defer stop()
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		eval()
		d = append(d, time.Since(t0))
	}
	percentiles(b, d)
}

// BenchmarkWatchLatency measures an object change (a PATCH accepted by the
// API server) → the live result callback.
func BenchmarkWatchLatency(b *testing.B) {
	s, prog := benchSandbox(b)
	ch := benchChapter()
	ch.Tasks = append(ch.Tasks, &labs.Task{ID: "flip", Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, Expect: "object.spec.replicas == 4"},
	}})
	prog, err := grader.Compile(ch)
	if err != nil {
		b.Fatalf("Compile: %v", err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	got := make(chan time.Time, 16)
	done := make(chan error, 1)
	go func() {
		done <- prog.Watch(ctx, s.target, func(rs []grader.TaskResult) {
			for _, r := range rs {
				if r.ID == "flip" {
					got <- time.Now()
				}
			}
		})
	}()
	defer func() { cancel(); <-done }()
	<-got // first call: every task
	var d []time.Duration
	replicas := 2
	for b.Loop() {
		replicas = 6 - replicas // 2 ↔ 4: the flip task changes every time
		patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
		t0 := time.Now()
		if _, err := s.dyn.Resource(gvrs["Deployment"]).Namespace(s.ns).Patch(b.Context(), "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			b.Fatalf("patch: %v", err)
		}
		select {
		case t1 := <-got:
			d = append(d, t1.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatal("no result callback")
		}
	}
	percentiles(b, d)
}
