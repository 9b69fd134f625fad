// Package kindtest gives tests what kind sandboxes need on this machine: a
// running Docker engine and the offline node image scripts/kind-up built
// (kind's own image cannot be pulled here). Without them a test fails and
// says how to get them; only the fast tier (-short) skips.
package kindtest

import (
	"os"
	"testing"

	"github.com/kubelab/kubelab/sandbox/kindcluster"
)

// Image returns the node image from KUBELAB_KIND_IMAGE once Docker answers.
func Image(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("fast tier (-short): needs Docker and a kind node image; run without -short")
	}
	if err := kindcluster.CheckDocker(tb.Context()); err != nil {
		tb.Fatalf(`this test needs Docker: %v (run eval "$(scripts/kind-up)" first; scripts/test does)`, err)
	}
	image := os.Getenv("KUBELAB_KIND_IMAGE")
	if image == "" {
		tb.Fatal(`KUBELAB_KIND_IMAGE is empty: run eval "$(scripts/kind-up)" first (scripts/test does)`)
	}
	if shim := os.Getenv("KUBELAB_DOCKER_SHIM"); shim != "" {
		tb.Logf("WORKAROUND: this host withholds CAP_SYS_RESOURCE; kind's --privileged nodes run through %s", shim)
	}
	return image
}
