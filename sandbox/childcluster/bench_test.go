package childcluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/sandbox"
)

// firstAnswer is what a learner's first command needs: the nodes listed.
func firstAnswer(b *testing.B, sb *sandbox.Sandbox) {
	cs, err := kubernetes.NewForConfig(sb.Config)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().List(b.Context(), metav1.ListOptions{}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkColdStart times a learner's own cluster from nothing to the
// first answer: a child process started, its control plane and nodes up,
// the default ServiceAccount made, the nodes listed. With further clusters
// (as chapter contexts asks), until every cluster has answered.
func BenchmarkColdStart(b *testing.B) {
	for _, others := range [][]string{nil, {"staging", "prod"}} {
		b.Run(fmt.Sprintf("clusters=%d", 1+len(others)), func(b *testing.B) {
			p := newProvisioner(b.TempDir())
			defer p.Close()
			ctx := context.WithoutCancel(b.Context())
			var total time.Duration
			for i := range b.N {
				id := fmt.Sprintf("cold%d", i)
				t0 := time.Now()
				sb, err := p.Create(ctx, id, sandbox.Spec{Chapter: "bench", Clusters: others})
				if err != nil {
					b.Fatal(err)
				}
				firstAnswer(b, sb)
				for _, o := range sb.Others {
					firstAnswer(b, &sandbox.Sandbox{Config: o.Config})
				}
				total += time.Since(t0)
				if err := p.Destroy(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/start")
		})
	}
}

// BenchmarkClaim times a warm cluster's claim (the kubeconfig's context
// named after the chapter) to the first answer.
func BenchmarkClaim(b *testing.B) {
	p := newProvisioner(b.TempDir())
	defer p.Close()
	ctx := context.WithoutCancel(b.Context())
	for i := range b.N {
		if _, err := p.Create(ctx, fmt.Sprintf("warm%d", i), sandbox.Spec{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		t0 := time.Now()
		sb, err := p.Claim(ctx, fmt.Sprintf("warm%d", i), sandbox.Spec{Chapter: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		firstAnswer(b, sb)
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/claim")
}

// BenchmarkIdleFootprint starts 4 clusters, lets them settle for 30 s and
// then measures for 30 s each child's resident memory and CPU time.
func BenchmarkIdleFootprint(b *testing.B) {
	const n = 4
	for range b.N {
		p := newProvisioner(b.TempDir())
		ctx := context.WithoutCancel(b.Context())
		var pids []int
		t0 := time.Now()
		for i := range n {
			id := fmt.Sprintf("idle%d", i)
			if _, err := p.Create(ctx, id, sandbox.Spec{}); err != nil {
				b.Fatal(err)
			}
			pids = append(pids, p.PID(id))
		}
		started := time.Since(t0)
		time.Sleep(30 * time.Second)
		cpu0 := cpuTicks(b, pids)
		time.Sleep(30 * time.Second)
		cpu1 := cpuTicks(b, pids)
		var rss, anon, pss int64
		for _, pid := range pids {
			rss += procKiB(b, fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
			anon += procKiB(b, fmt.Sprintf("/proc/%d/status", pid), "RssAnon:")
			pss += procKiB(b, fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
		}
		p.Close()
		// RSS counts the kubelab binary's pages each child maps; they are
		// one copy in the page cache for all. PSS shares them out; RssAnon
		// is what each cluster alone adds.
		b.ReportMetric(float64(rss)/n/1024, "MiB-RSS/cluster")
		b.ReportMetric(float64(pss)/n/1024, "MiB-PSS/cluster")
		b.ReportMetric(float64(anon)/n/1024, "MiB-anon/cluster")
		b.ReportMetric(float64(cpu1-cpu0)/100/30/n*100, "%core/cluster")
		b.ReportMetric(started.Seconds()/n, "s/start-in-sequence")
	}
}

// procKiB reads a "Key: N kB" line of a /proc file.
func procKiB(b *testing.B, path, key string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	b.Fatalf("no %s in %s", key, path)
	return 0
}

// cpuTicks sums user and system clock ticks (1/100 s) of the processes.
func cpuTicks(b *testing.B, pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name (which may hold spaces).
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return sum
}

var manyClusters = flag.Int("clusters", 20, "clusters BenchmarkManyClusters starts")

// BenchmarkManyClusters starts -clusters clusters side by side, then lists
// each one's nodes ten times: what a machine full of learners' clusters
// does to the one in front of a learner. It reports the total private
// memory, the machine's idle CPU taken, and the answer's latency.
func BenchmarkManyClusters(b *testing.B) {
	for range b.N {
		p := newProvisioner(b.TempDir())
		ctx := context.WithoutCancel(b.Context())
		var wg sync.WaitGroup
		sbs := make([]*sandbox.Sandbox, *manyClusters)
		errs := make([]error, *manyClusters)
		t0 := time.Now()
		for i := range sbs {
			wg.Go(func() { sbs[i], errs[i] = p.Create(ctx, fmt.Sprintf("many%d", i), sandbox.Spec{}) })
		}
		wg.Wait()
		started := time.Since(t0)
		if err := errors.Join(errs...); err != nil {
			p.Close()
			b.Fatal(err)
		}
		var pids []int
		for i := range sbs {
			pids = append(pids, p.PID(fmt.Sprintf("many%d", i)))
		}
		time.Sleep(20 * time.Second)
		cpu0 := cpuTicks(b, pids)
		measured := time.Now()
		var lat []time.Duration
		for range 10 {
			for _, sb := range sbs {
				t := time.Now()
				firstAnswer(b, sb)
				lat = append(lat, time.Since(t))
			}
			time.Sleep(time.Second)
		}
		elapsed := time.Since(measured)
		cpu1 := cpuTicks(b, pids)
		var anon int64
		for _, pid := range pids {
			anon += procKiB(b, fmt.Sprintf("/proc/%d/status", pid), "RssAnon:")
		}
		p.Close()
		slices.Sort(lat)
		b.ReportMetric(started.Seconds(), "s/start-all")
		b.ReportMetric(float64(anon)/1024/1024, "GiB-anon-total")
		b.ReportMetric(float64(cpu1-cpu0)/100/elapsed.Seconds()*100, "%core-total")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50-list")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99-list")
	}
}
