package childcluster_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/childcluster"
)

// TestMain lets the test binary be a cluster child (as kubelab's main is),
// and a stand-in kubelab that the crash test kills.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childcluster.EnvChild); cfg != "" {
		if err := childcluster.Child(context.Background(), cfg, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dir := os.Getenv("CHILDCLUSTER_TEST_PARENT"); dir != "" {
		p := newProvisioner(dir)
		if _, err := p.Create(context.Background(), "orphan", sandbox.Spec{}); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("pid", p.PID("orphan"))
		select {} // until killed
	}
	os.Exit(m.Run())
}

var layout = []string{"controlplane", "node01", "node02"}

func newProvisioner(dir string) *childcluster.Provisioner {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return childcluster.New(childcluster.Options{Dir: dir, Command: []string{exe}, Nodes: layout})
}

func clientOf(t *testing.T, sb *sandbox.Sandbox) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func nodeNames(t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

// TestOwnClusters: each sandbox is a cluster of its own with the node
// layout asked for; what its learner does as cluster-admin (a namespace, a
// PersistentVolume, a CRD, a taint, a drain) shows nowhere else; Destroy
// leaves no process or data; after kubelab closes, Get starts the cluster
// again with its objects.
func TestOwnClusters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newProvisioner(dir)
	ctx := t.Context()

	a, err := p.Create(ctx, "a1", sandbox.Spec{Chapter: "scheduling"})
	if err != nil {
		t.Fatalf("create a1: %v", err)
	}
	b, err := p.Create(ctx, "b1", sandbox.Spec{Chapter: "other", Nodes: []string{"master", "worker"}})
	if err != nil {
		t.Fatalf("create b1: %v", err)
	}
	if !a.Cluster || !a.Simulated || a.Namespace != "default" || a.Server == b.Server {
		t.Errorf("sandbox a1 = %+v; want a simulated cluster of its own, namespace default, its own API server", a)
	}
	kc, err := clientcmd.Load(a.Kubeconfig)
	if err != nil || kc.CurrentContext != "scheduling" {
		t.Errorf("a1's kubeconfig context: %v %v, want scheduling", kc.CurrentContext, err)
	}
	csA, csB := clientOf(t, a), clientOf(t, b)
	if diff := cmp.Diff(layout, nodeNames(t, csA)); diff != "" {
		t.Errorf("a1's nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"master", "worker"}, nodeNames(t, csB)); diff != "" {
		t.Errorf("b1's nodes (-want +got):\n%s", diff)
	}
	cp, err := csA.CoreV1().Nodes().Get(ctx, "controlplane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cp.Labels["node-role.kubernetes.io/control-plane"]; !ok || len(cp.Spec.Taints) != 1 ||
		cp.Spec.Taints[0].Key != "node-role.kubernetes.io/control-plane" || cp.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
		t.Errorf("controlplane: labels %v taints %v; want kubeadm's control-plane label and NoSchedule taint", cp.Labels, cp.Spec.Taints)
	}

	// Cluster-admin work in a1.
	if _, err := csA.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a namespace: %v", err)
	}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-a"}, Spec: corev1.PersistentVolumeSpec{
		Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/a"}},
	}}
	if _, err := csA.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a PersistentVolume: %v", err)
	}
	ext, err := apiextclient.NewForConfig(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextv1.NamespaceScoped,
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}}}},
		},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a CRD: %v", err)
	}
	drain(t, csA, "node01")

	// None of it is in b1.
	if _, err := csB.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("b1 sees a1's namespace: %v", err)
	}
	if _, err := csB.CoreV1().PersistentVolumes().Get(ctx, "pv-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("b1 sees a1's PersistentVolume: %v", err)
	}
	extB, _ := apiextclient.NewForConfig(b.Config)
	if _, err := extB.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("b1 sees a1's CRD: %v", err)
	}

	// Destroy leaves no process and no data.
	pidA := p.PID("a1")
	if err := p.Destroy(ctx, "a1"); err != nil {
		t.Fatalf("destroy a1: %v", err)
	}
	if alive(pidA) {
		t.Errorf("a1's process %d still runs after Destroy", pidA)
	}
	if _, err := os.Stat(filepath.Join(dir, "a1")); !os.IsNotExist(err) {
		t.Errorf("a1's data dir after Destroy: %v", err)
	}
	if _, err := p.Get(ctx, "a1"); !isNotFound(err) {
		t.Errorf("Get a1 after Destroy: %v, want ErrNotFound", err)
	}
	ids, err := p.List(ctx)
	if err != nil || !slices.Equal(ids, []string{"b1"}) {
		t.Errorf("List = %v, %v; want [b1]", ids, err)
	}

	// Close stops b1's process; a new provisioner (kubelab restarted) starts
	// it again from its data, objects included.
	if _, err := csB.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pidB := p.PID("b1")
	p.Close()
	if alive(pidB) {
		t.Errorf("b1's process %d still runs after Close", pidB)
	}
	p2 := newProvisioner(dir)
	t.Cleanup(p2.Close)
	b2, err := p2.Get(ctx, "b1")
	if err != nil {
		t.Fatalf("Get b1 after a restart: %v", err)
	}
	if _, err := clientOf(t, b2).CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("b1's namespace after a restart: %v", err)
	}
	if err := p2.Destroy(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
}

// drain cordons a node and evicts its Pods, as `kubectl drain` does, after
// placing a Deployment's Pods with one pinned to the node.
func drain(t *testing.T, cs kubernetes.Interface, node string) {
	t.Helper()
	ctx := t.Context()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: "default"}, Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/hostname": node},
		Containers:   []corev1.Container{{Name: "c", Image: "nginx:1.27"}},
	}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a pod: %v", err)
	}
	waitFor(t, "the pod to run on "+node, func() bool {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == node && p.Status.Phase == corev1.PodRunning
	})
	if _, err := cs.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("cordon %s: %v", node, err)
	}
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: "default"}}
	if err := cs.CoreV1().Pods("default").EvictV1(ctx, ev); err != nil {
		t.Fatalf("evict: %v", err)
	}
	waitFor(t, "the evicted pod to go", func() bool {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("%s after cordon: %v %v", node, n.Spec.Unschedulable, err)
	}
}

// TestCrashedKubelabLeavesNoProcess: kill -9 of kubelab takes its cluster
// children with it; their data dirs stay for the reaper.
// TestFurtherClusters gives one sandbox three clusters: each its own
// API server and objects, a context each in the learner's kubeconfig, all
// started again after a restart and all gone after Destroy.
func TestFurtherClusters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newProvisioner(dir)
	ctx := t.Context()
	if _, err := p.Create(ctx, "bad1", sandbox.Spec{Chapter: "x", Clusters: []string{"../up"}}); err == nil {
		t.Error("a further cluster named ../up was made")
	}
	sb, err := p.Create(ctx, "m1", sandbox.Spec{Chapter: "contexts", Clusters: []string{"east", "west"}})
	if err != nil {
		t.Fatalf("create m1: %v", err)
	}
	if len(sb.Others) != 2 || sb.Others[0].Name != "east" || sb.Others[1].Name != "west" {
		t.Fatalf("m1's further clusters = %+v, want east and west", sb.Others)
	}
	servers := map[string]bool{sb.Server: true, sb.Others[0].Config.Host: true, sb.Others[1].Config.Host: true}
	if len(servers) != 3 {
		t.Errorf("servers %v: want three API servers", servers)
	}
	kc, err := clientcmd.Load(sb.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"contexts", "east", "west"}, slices.Sorted(maps.Keys(kc.Contexts))); diff != "" || kc.CurrentContext != "contexts" {
		t.Errorf("kubeconfig contexts (-want +got):\n%s current %q", diff, kc.CurrentContext)
	}
	east, err := kubernetes.NewForConfig(sb.Others[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-east"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := clientOf(t, sb).CoreV1().Namespaces().Get(ctx, "only-east", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the primary cluster sees east's namespace: %v", err)
	}
	pids := []int{p.PID("m1"), p.PID("m1/east"), p.PID("m1/west")}

	p.Close()
	p2 := newProvisioner(dir)
	t.Cleanup(p2.Close)
	again, err := p2.Get(ctx, "m1")
	if err != nil {
		t.Fatalf("Get m1 after a restart: %v", err)
	}
	east2, err := kubernetes.NewForConfig(again.Others[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east2.CoreV1().Namespaces().Get(ctx, "only-east", metav1.GetOptions{}); err != nil {
		t.Errorf("east's namespace after a restart: %v", err)
	}
	pids = append(pids, p2.PID("m1"), p2.PID("m1/east"), p2.PID("m1/west"))
	if err := p2.Destroy(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if pid == 0 || alive(pid) {
			t.Errorf("cluster process %d: never ran, or still runs after Destroy (all: %v)", pid, pids)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m1")); !os.IsNotExist(err) {
		t.Errorf("m1's data dir after Destroy: %v", err)
	}
}

func TestCrashedKubelabLeavesNoProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(exe)
	parent.Env = append(os.Environ(), "CHILDCLUSTER_TEST_PARENT="+dir)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = parent.Process.Kill()
		t.Fatalf("stand-in kubelab: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "pid "))
	if err != nil || pid == 0 || !alive(pid) {
		_ = parent.Process.Kill()
		t.Fatalf("stand-in kubelab said %q; want the pid of a running cluster", line)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	waitFor(t, "the orphaned cluster process to die", func() bool { return !alive(pid) })
	ids, err := newProvisioner(dir).List(t.Context())
	if err != nil || !slices.Equal(ids, []string{"orphan"}) {
		t.Errorf("List after the crash = %v, %v; want [orphan] for the reaper", ids, err)
	}
}

// TestBadIDs: ids that are not plain names never reach the file system.
func TestBadIDs(t *testing.T) {
	t.Parallel()
	p := newProvisioner(t.TempDir())
	for _, id := range []string{"../x", "a/b", "", ".hidden", "UPPER"} {
		if _, err := p.Create(t.Context(), id, sandbox.Spec{}); err == nil {
			t.Errorf("Create(%q) succeeded", id)
		}
		if _, err := p.Get(t.Context(), id); !isNotFound(err) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	// A zombie still answers kill 0: read its state.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

func isNotFound(err error) bool { return errors.Is(err, sandbox.ErrNotFound) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func ptr[T any](v T) *T { return &v }
