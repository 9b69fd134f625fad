package simcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/sandbox/simcluster"
)

// Start may run once per process, so restart and shutdown are tested in
// child processes: the test binary re-executed with childEnv=<data dir>.
const (
	childEnv     = "SIMCLUSTER_TEST_CHILD_DIR"
	childModeEnv = "SIMCLUSTER_TEST_CHILD_MODE"
	restartPods  = 1500 // the restarted cluster's Capacity: 500 pods on each of 3 nodes
)

// childReport is what a child prints as its last stdout line.
type childReport struct {
	PodIPs         []string       `json:"podIPs"`
	ConfigMapValue string         `json:"configMapValue"`
	OpenPorts      []string       `json:"openPorts"`
	Goroutines     [2]int         `json:"goroutines"` // before Start, after Stop
	StartSeconds   float64        `json:"startSeconds"`
	StopSeconds    float64        `json:"stopSeconds"`
	ReadyzSeconds  float64        `json:"readyzSeconds"`
	PodsSeconds    float64        `json:"podsSeconds"`
	Leftover       []string       `json:"leftover"` // top function of goroutines left after Stop
	Ports          map[string]int `json:"ports"`
	NodePods       []int64        `json:"nodePods"` // each node's pod capacity
	Err            string         `json:"err"`
}

func runChild() int {
	rep := childReport{}
	err := child(&rep)
	if err != nil {
		rep.Err = err.Error()
	}
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	return 0
}

func child(rep *childReport) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep.Goroutines[0] = runtime.NumGoroutine()
	t0 := time.Now()
	opts := simcluster.Options{DataDir: os.Getenv(childEnv), Log: slog.New(slog.DiscardHandler)}
	if os.Getenv(childModeEnv) == "verify" {
		// Restarted with room for more pods: the kept nodes must grow.
		opts.Capacity = corev1.ResourceList{corev1.ResourcePods: resource.MustParse(strconv.Itoa(restartPods))}
	}
	c, err := simcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	rep.StartSeconds = time.Since(t0).Seconds()
	rep.ReadyzSeconds = simcluster.ReadyAfter(c).Seconds()
	rep.Ports = simcluster.Ports(c)
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		rep.NodePods = append(rep.NodePods, n.Status.Allocatable.Pods().Value())
	}
	// The API server's own hook for these is off (it sleeps a second
	// first): Start makes them.
	for _, name := range []string{"system-cluster-critical", "system-node-critical"} {
		if _, err := cs.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("system priority class after start: %w", err)
		}
	}
	const ns = "keep"
	switch os.Getenv(childModeEnv) {
	case "create":
		// A bootstrap role lost: a warm restart reconciles the RBAC policy
		// beside serving, and must still bring it back.
		if err := cs.RbacV1().ClusterRoles().Delete(ctx, "view", metav1.DeleteOptions{}); err != nil {
			return err
		}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "survives"}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3), metav1.CreateOptions{})
			return err == nil || apierrors.IsAlreadyExists(err), nil
		}); err != nil {
			return err
		}
	case "verify":
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "cm", metav1.GetOptions{})
		if err != nil {
			return err
		}
		rep.ConfigMapValue = cm.Data["k"]
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := cs.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
			return err == nil, nil
		}); err != nil {
			return fmt.Errorf("the bootstrap ClusterRole view was not restored after a restart: %w", err)
		}
		// Logs go through the kubelet stand-in, whose port may have moved.
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return fmt.Errorf("list pods after restart: %v (%d pods)", err, len(pods.Items))
		}
		logs, err := cs.CoreV1().Pods(ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("logs after restart: %w", err)
		}
		if !strings.Contains(string(logs), "simulated") {
			return fmt.Errorf("logs after restart = %q", logs)
		}
		if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"replicas":6}}`), metav1.PatchOptions{}); err != nil {
			return err
		}
	case "":
	}
	if os.Getenv(childModeEnv) != "" {
		want := map[string]int{"create": 3, "verify": 6}[os.Getenv(childModeEnv)]
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			rep.PodIPs = rep.PodIPs[:0]
			for _, p := range pods.Items {
				if p.Status.PodIP != "" {
					rep.PodIPs = append(rep.PodIPs, p.Status.PodIP)
				}
			}
			return len(rep.PodIPs) == want, nil
		}); err != nil {
			return fmt.Errorf("wait for %d pod IPs: %w", want, err)
		}
	}
	rep.PodsSeconds = time.Since(t0).Seconds() - rep.StartSeconds
	t1 := time.Now()
	if err := c.Stop(ctx); err != nil {
		return err
	}
	rep.StopSeconds = time.Since(t1).Seconds()
	for name, p := range rep.Ports {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second)
		if err == nil {
			conn.Close()
			rep.OpenPorts = append(rep.OpenPorts, name)
		}
	}
	time.Sleep(2 * time.Second) // let goroutines unwind before counting
	rep.Goroutines[1] = runtime.NumGoroutine()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if lines := strings.Split(g, "\n"); len(lines) > 1 {
			rep.Leftover = append(rep.Leftover, strings.TrimSpace(lines[1]))
		}
	}
	return nil
}

func runChildProcess(t testing.TB, dir, mode string) childReport {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	// A race report does not fail the child by itself: raceReports below
	// judges them (kwok v0.8.0 has one of its own).
	cmd.Env = append(os.Environ(), childEnv+"="+dir, childModeEnv+"="+mode, "GORACE=exitcode=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s\nstderr:\n%s", mode, err, out, stderr.String())
	}
	for _, r := range raceReports(stderr.String()) {
		if !r.kwokOnly {
			t.Fatalf("child %s: data race:\n%s", mode, r.text)
		}
		t.Logf("KNOWN THIRD-PARTY RACE, tolerated (kwok v0.8.0 starts its pod and node controllers in map order; both sides are kwok's):\n%s", r.text)
	}
	lines := slices.DeleteFunc(splitLines(string(out)), func(s string) bool { return len(s) == 0 || s[0] != '{' })
	if len(lines) == 0 {
		t.Fatalf("child %s: no report in output:\n%s", mode, out)
	}
	var rep childReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("child %s: parse report: %v", mode, err)
	}
	if rep.Err != "" {
		t.Fatalf("child %s: %s", mode, rep.Err)
	}
	return rep
}

func splitLines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func TestRestartKeepsObjectsAndStopClosesListeners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := runChildProcess(t, dir, "create")
	// Pretend the etcd peer and kubelet ports were taken meanwhile: the
	// restart must cope with new ones.
	statePath := filepath.Join(dir, "state.json")
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["etcdPeerPort"], st["kwokPort"] = 0, 0
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	second := runChildProcess(t, dir, "verify")
	for _, rep := range []childReport{first, second} {
		if len(rep.OpenPorts) != 0 {
			t.Errorf("listeners still open after Stop: %v", rep.OpenPorts)
		}
		t.Logf("goroutines before Start %d, after Stop %d; start took %.2fs, workload %.2fs, stop %.2fs", rep.Goroutines[0], rep.Goroutines[1], rep.StartSeconds, rep.PodsSeconds, rep.StopSeconds)
		t.Logf("left after Stop: %q", rep.Leftover)
	}
	if diff := cmp.Diff([]int64{110, 110, 110}, first.NodePods); diff != "" {
		t.Errorf("node pod capacity at first start (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{restartPods / 3, restartPods / 3, restartPods / 3}, second.NodePods); diff != "" {
		t.Errorf("node pod capacity after a restart with more Capacity (-want +got):\n%s", diff)
	}
	if second.ConfigMapValue != "survives" {
		t.Errorf("configmap after restart = %q, want %q", second.ConfigMapValue, "survives")
	}
	if first.Ports["kube-apiserver"] != second.Ports["kube-apiserver"] {
		t.Errorf("api server port changed across restart: %d then %d", first.Ports["kube-apiserver"], second.Ports["kube-apiserver"])
	}
	seen := map[string]bool{}
	for _, ip := range second.PodIPs {
		if seen[ip] {
			t.Errorf("duplicate pod IP %s after restart: %v", ip, second.PodIPs)
		}
		seen[ip] = true
	}
}

type raceReport struct {
	text     string
	kwokOnly bool // every access in it is in kwok's own code
}

// raceReports splits the race detector's reports out of a process's
// standard error.
func raceReports(stderr string) []raceReport {
	var out []raceReport
	for _, block := range strings.Split(stderr, "==================") {
		if !strings.Contains(block, "WARNING: DATA RACE") {
			continue
		}
		r := raceReport{text: strings.TrimSpace(block), kwokOnly: true}
		lines := strings.Split(block, "\n")
		for i, l := range lines {
			if strings.Contains(l, " at 0x") && strings.Contains(l, " by ") && i+1 < len(lines) {
				if !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "sigs.k8s.io/kwok/") {
					r.kwokOnly = false
				}
			}
		}
		out = append(out, r)
	}
	return out
}

func TestRaceReports(t *testing.T) {
	t.Parallel()
	kwok := "==================\nWARNING: DATA RACE\nRead at 0x00c009e88c78 by goroutine 11838:\n  sigs.k8s.io/kwok/pkg/kwok/controllers.(*Controller).initPodController.func1()\n      /x/controller.go:476 +0x45\n\nPrevious write at 0x00c009e88c78 by goroutine 11823:\n  sigs.k8s.io/kwok/pkg/kwok/controllers.(*Controller).initNodeController()\n      /x/controller.go:431 +0x4ae\n  github.com/kubelab/kubelab/sandbox/simcluster.(*Cluster).startKwok.func1()\n==================\n"
	ours := strings.ReplaceAll(kwok, "Previous write at 0x00c009e88c78 by goroutine 11823:\n  sigs.k8s.io/kwok/pkg/kwok/controllers.(*Controller).initNodeController()",
		"Previous write at 0x00c009e88c78 by goroutine 11823:\n  github.com/kubelab/kubelab/sandbox/simcluster.(*Cluster).Stop()")
	tests := []struct {
		name   string
		stderr string
		want   []bool
	}{
		{"none", "some log line\n", nil},
		{"kwok's own", kwok, []bool{true}},
		{"one side ours", ours, []bool{false}},
		{"both", kwok + ours, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []bool
			for _, r := range raceReports(tt.stderr) {
				got = append(got, r.kwokOnly)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("kwok-only verdicts (-want +got):\n%s", diff)
			}
		})
	}
}
