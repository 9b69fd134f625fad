// Package simclustertest owns the test harness for the embedded simulated
// cluster: one cluster per test package, started from TestMain, and a fresh
// namespace per test.
//
//	func TestMain(m *testing.M) { simclustertest.Main(m) }
//
//	func TestX(t *testing.T) {
//		t.Parallel()
//		ns := simclustertest.Namespace(t)
//		cs := kubernetes.NewForConfigOrDie(simclustertest.Cluster(t).AdminConfig())
//		...
//	}
//
// If the cluster cannot start, every test that asks for it fails with the
// reason (tests never skip).
package simclustertest

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/sandbox/simcluster"
)

var (
	cluster  *simcluster.Cluster
	startErr error
)

// Main starts one simulated cluster in a temporary data dir, runs the
// package's tests and stops the cluster. Call it from TestMain. Set
// SIMCLUSTER_TEST_LOG=1 to see the cluster's warnings on stderr.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // the fast tier: Cluster skips
	}
	dir, err := os.MkdirTemp("", "simclustertest-")
	if err != nil {
		startErr = fmt.Errorf("create data dir: %w", err)
		return m.Run()
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SIMCLUSTER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cluster, startErr = simcluster.Start(ctx, simcluster.Options{DataDir: dir, Log: log})
	cancel()
	if startErr != nil {
		fmt.Fprintf(os.Stderr, "simclustertest: %v\n", startErr)
	}
	code := m.Run()
	if cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "simclustertest: stop: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Cluster returns the package's cluster, failing t if it did not start (or if
// TestMain does not call Main).
func Cluster(t testing.TB) *simcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("fast tier (-short): needs the simulated cluster; run without -short")
	}
	if startErr != nil {
		t.Fatalf("simulated cluster did not start: %v", startErr)
	}
	if cluster == nil {
		t.Fatal("simulated cluster not started: call simclustertest.Main(m) from TestMain")
	}
	return cluster
}

// Namespace creates a fresh namespace (with its default ServiceAccount
// ready, so pods can be created at once) and deletes it when the test ends.
func Namespace(t testing.TB) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(Cluster(t).AdminConfig())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx := t.Context()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	name := ns.Name
	t.Cleanup(func() {
		// t.Context is already canceled during cleanup.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s: default service account never appeared: %v", name, err)
	}
	return name
}
