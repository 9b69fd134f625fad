package simcluster_test

import (
	"context"
	"fmt"
	"github.com/kubelab/kubelab/internal/procstat"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
)

// rssMB returns this process's resident set size.
func rssMB(b *testing.B) float64 {
	b.Helper()
	n, err := procstat.RSS("self")
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / (1 << 20)
}

// BenchmarkStart measures Start (API server /readyz ok and all nodes Ready)
// on a fresh data dir, in a child process since Start runs once per process.
func BenchmarkStart(b *testing.B) {
	var start, readyz float64
	for range b.N {
		rep := runChildProcess(b, b.TempDir(), "")
		start += rep.StartSeconds
		readyz += rep.ReadyzSeconds
	}
	b.ReportMetric(readyz/float64(b.N), "s-readyz")
	b.ReportMetric(start/float64(b.N), "s-nodes-ready")
}

// BenchmarkIdleRSS reports the RSS of the test process with an idle cluster.
func BenchmarkIdleRSS(b *testing.B) {
	simclustertest.Cluster(b)
	time.Sleep(10 * time.Second)
	for range b.N {
	}
	b.ReportMetric(rssMB(b), "MB-rss")
}

// BenchmarkDeploymentAvailable measures create → 3/3 available.
func BenchmarkDeploymentAvailable(b *testing.B) {
	cs, err := kubernetes.NewForConfig(simclustertest.Cluster(b).AdminConfig())
	if err != nil {
		b.Fatal(err)
	}
	ns := simclustertest.Namespace(b)
	ctx := b.Context()
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("web-%d", i)
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment(name, 3), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas == 3, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConverge200Namespaces creates 200 namespaces with a 3-replica
// Deployment each (600 pods; 4 extra nodes are added for capacity) and
// measures the time until all are available, and RSS afterwards.
func BenchmarkConverge200Namespaces(b *testing.B) {
	cs, err := kubernetes.NewForConfig(simclustertest.Cluster(b).AdminConfig())
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for i := range 4 {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-node-%d", i), Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
			Status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi")},
				Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi")},
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for it := range b.N {
		const count = 200
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, count)
		sem := make(chan struct{}, 16)
		for i := range count {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				ns := fmt.Sprintf("bench-%d-%d", it, i)
				if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"bench": "1"}}}, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
					d := deployment("web", 3)
					d.Labels = map[string]string{"bench": "1"}
					_, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
					return err == nil, nil
				})
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			ds, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "bench=1"})
			if err != nil {
				return false, nil
			}
			ok := 0
			for _, d := range ds.Items {
				if d.Status.AvailableReplicas == 3 {
					ok++
				}
			}
			return ok == count*(it+1), nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-converge")
	}
	b.ReportMetric(rssMB(b), "MB-rss")
}
