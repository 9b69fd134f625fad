package sandbox_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

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
