package kindcluster_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/kindcluster"
	"github.com/kubelab/kubelab/sandbox/kindcluster/kindtest"
)

var kindCLI = flag.String("kind-cli", "", "a kind binary (go build sigs.k8s.io/kind@v0.33.0) to time `kind create cluster` with the same image")

// BenchmarkColdCreate times a kind sandbox from nothing to usable (kind's
// create plus kubelab's wait for the default ServiceAccount and CoreDNS)
// and, with -kind-cli, `kind create cluster --wait` on the same image.
func BenchmarkColdCreate(b *testing.B) {
	image := kindtest.Image(b)
	p := kindcluster.New(kindcluster.Options{Dir: b.TempDir(), Image: image, Instance: "bench"})
	ctx := context.WithoutCancel(b.Context())
	var kubelab, cli time.Duration
	for i := range b.N {
		id := fmt.Sprintf("cold%d", i)
		t0 := time.Now()
		if _, err := p.Create(ctx, id, sandbox.Spec{}); err != nil {
			b.Fatal(err)
		}
		kubelab += time.Since(t0)
		if err := p.Destroy(ctx, id); err != nil {
			b.Fatal(err)
		}
		if *kindCLI == "" {
			continue
		}
		name := fmt.Sprintf("bench-cli%d", i)
		t0 = time.Now()
		out, err := exec.Command(*kindCLI, "create", "cluster", "--name", name, "--image", image, "--wait", "5m",
			"--kubeconfig", filepath.Join(b.TempDir(), "kc")).CombinedOutput()
		cli += time.Since(t0)
		_ = exec.Command(*kindCLI, "delete", "cluster", "--name", name).Run()
		if err != nil {
			b.Fatalf("kind create cluster: %v\n%s", err, out)
		}
	}
	b.ReportMetric(kubelab.Seconds()/float64(b.N), "s/kubelab-create")
	if *kindCLI != "" {
		b.ReportMetric(cli.Seconds()/float64(b.N), "s/kind-cli-create")
	}
}

// BenchmarkIdleFootprint makes 3 kind sandboxes at once and reports what
// each costs when idle: the node container's memory and CPU over 30 s.
func BenchmarkIdleFootprint(b *testing.B) {
	image := kindtest.Image(b)
	const n = 3
	p := kindcluster.New(kindcluster.Options{Dir: b.TempDir(), Image: image, Instance: "bench", MaxConcurrent: n})
	ctx := context.WithoutCancel(b.Context())
	for range b.N {
		var wg sync.WaitGroup
		errs := make([]error, n)
		t0 := time.Now()
		for i := range n {
			wg.Go(func() { _, errs[i] = p.Create(ctx, fmt.Sprintf("idle%d", i), sandbox.Spec{}) })
		}
		wg.Wait()
		together := time.Since(t0)
		for i := range n {
			defer p.Destroy(ctx, fmt.Sprintf("idle%d", i))
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(30 * time.Second) // settle after start
		cpu0 := nodeCPU(b, n)
		time.Sleep(30 * time.Second)
		cpu := (nodeCPU(b, n) - cpu0) / 30 / n // cores per cluster
		b.ReportMetric(together.Seconds(), "s/3-created-together")
		b.ReportMetric(nodeMemory(b, n)/n/(1<<20), "MiB/cluster")
		b.ReportMetric(cpu*100, "%core/cluster-idle")
	}
}

// nodeMemory sums the memory the idle clusters' node containers use, as
// their cgroups count it (page cache included, as Docker shows it).
func nodeMemory(b *testing.B, n int) float64 {
	total := 0.0
	for i := range n {
		total += cgroupValue(b, i, "memory", "memory.usage_in_bytes")
	}
	return total
}

// nodeCPU sums the CPU seconds the node containers have used.
func nodeCPU(b *testing.B, n int) float64 {
	total := 0.0
	for i := range n {
		total += cgroupValue(b, i, "cpuacct", "cpuacct.usage") / 1e9
	}
	return total
}

func cgroupValue(b *testing.B, i int, controller, file string) float64 {
	name := fmt.Sprintf("kl-bench-idle%d-control-plane", i)
	id, err := exec.Command("docker", "inspect", "-f", "{{.Id}}", name).Output()
	if err != nil {
		b.Fatalf("docker inspect %s: %v", name, err)
	}
	raw, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, "docker", strings.TrimSpace(string(id)), file))
	if err != nil {
		b.Fatalf("cgroup of %s: %v (cgroup v1 with the cgroupfs driver expected)", name, err)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}
