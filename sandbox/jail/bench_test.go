package jail_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/jail/jailtest"
)

// BenchmarkKubectlBesideBusyJail times one learner's jailed kubectl
// (a whole Run: jail, shell and one API call) while another learner's
// jail runs 40 busy loops, each in its own session, as an attacker would.
// "quiet" is the same without the busy jail; "no-cgroup" is the busy case
// where kubelab cannot make cgroups. Compare ms/kubectl across the three.
func BenchmarkKubectlBesideBusyJail(b *testing.B) {
	api := newAPIServer(b)
	for _, bc := range []struct {
		name     string
		busy     bool
		noCgroup bool
	}{
		{"quiet", false, false},
		{"busy", true, false},
		{"busy-no-cgroup", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			j := jailtest.New(b, jailtest.Options(b))
			if bc.noCgroup {
				jail.WithoutCgroups(j)
			}
			if bc.busy {
				startBusyJail(b, j, api)
			}
			victim := api.spec(b)
			victim.ID = "victim"
			ctx := b.Context()
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				if out, err := j.Run(ctx, victim, "kubectl get --raw /api/hello >/dev/null"); err != nil {
					b.Fatalf("victim's kubectl: %v\n%s", err, out)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/kubectl")
		})
	}
}

// startBusyJail runs 40 setsid busy loops in a jail of their own until
// the benchmark ends.
func startBusyJail(b *testing.B, j *jail.Jail, api *apiServer) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	spec := api.spec(b)
	spec.ID = "attacker"
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = j.Run(ctx, spec, `for i in $(seq 40); do setsid bash -c 'while :; do :; done' & done; sleep 3600`)
	}()
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	time.Sleep(2 * time.Second) // the loops are spinning
}
