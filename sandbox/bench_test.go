package sandbox_test

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kubelab/kubelab/internal/procstat"
	"github.com/kubelab/kubelab/sandbox"
)

// BenchmarkTimeToReady reports p50 time to ready for cold creates and pool
// claims on the simulated cluster with real PostgreSQL.
func BenchmarkTimeToReady(b *testing.B) {
	for _, pool := range []bool{false, true} {
		name := "cold"
		if pool {
			name = "pool"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b)
			opts := sandbox.ManagerOptions{MaxPerUser: 1 << 20, MaxTotal: 1 << 20}
			if pool {
				opts.PoolSize = map[string]int{"small": 4}
			}
			m, _ := e.start(opts)
			var d []time.Duration
			for i := 0; b.Loop(); i++ {
				if pool {
					poolFull(b, m, "small", 4)
				}
				t0 := time.Now()
				s, err := m.Start(b.Context(), "bench", sandbox.ChapterSpec{ID: fmt.Sprintf("c%d", i), Size: "small"})
				if err != nil {
					b.Fatal(err)
				}
				waitStatus(b, m, s.ID, sandbox.StatusReady)
				d = append(d, time.Since(t0))
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			b.ReportMetric(float64(d[len(d)/2].Milliseconds()), "p50-ms")
		})
	}
}

// BenchmarkConcurrentStarts starts 100 sessions at once (cold) and reports
// p50/p99 time to ready and the time until all are ready.
func BenchmarkConcurrentStarts(b *testing.B) {
	e := newEnv(b)
	m, _ := e.start(sandbox.ManagerOptions{MaxPerUser: 1 << 20, MaxTotal: 1 << 20})
	for i := 0; b.Loop(); i++ {
		const n = 100
		d := make([]time.Duration, n)
		t0 := time.Now()
		done := make(chan struct{}, n)
		for j := range n {
			go func() {
				defer func() { done <- struct{}{} }()
				s, err := m.Start(b.Context(), fmt.Sprintf("u%d-%d", i, j), sandbox.ChapterSpec{ID: "pods", Size: "small"})
				if err != nil {
					b.Error(err)
					return
				}
				waitStatus(b, m, s.ID, sandbox.StatusReady)
				d[j] = time.Since(t0)
			}()
		}
		for range n {
			<-done
		}
		all := time.Since(t0)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		b.ReportMetric(float64(d[n/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(d[n*99/100].Milliseconds()), "p99-ms")
		b.ReportMetric(float64(all.Milliseconds()), "all-ms")
	}
}

// BenchmarkFiveHundredSandboxes fills the simulated cluster with 500 ready
// sandboxes (25 starts in flight at a time) and reports the process's RSS
// before and after: kubelab's manager and the simulated cluster share this
// process, as they do in `kubelab serve`.
func BenchmarkFiveHundredSandboxes(b *testing.B) {
	const n, inFlight = 500, 25
	e := newEnv(b)
	m, _ := e.start(sandbox.ManagerOptions{MaxPerUser: 1 << 20, MaxTotal: 1 << 20})
	runtime.GC()
	before, err := procstat.RSS("self")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		t0 := time.Now()
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		for j := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s, err := m.Start(b.Context(), fmt.Sprintf("many-%d", j), sandbox.ChapterSpec{ID: "pods", Size: "small"})
				if err != nil {
					b.Error(err)
					return
				}
				waitStatus(b, m, s.ID, sandbox.StatusReady)
			})
		}
		wg.Wait()
		b.ReportMetric(time.Since(t0).Seconds(), "s-all-ready")
	}
	runtime.GC()
	after, err := procstat.RSS("self")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(before)/(1<<20), "MB-rss-before")
	b.ReportMetric(float64(after)/(1<<20), "MB-rss-500")
	b.ReportMetric(float64(after-before)/n/(1<<10), "KB-per-sandbox")
}
