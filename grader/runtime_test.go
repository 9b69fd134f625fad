package grader_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	sbox "github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/kindcluster"
	"github.com/kubelab/kubelab/sandbox/kindcluster/kindtest"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
)

// kindEnv is the one kind cluster of the grader's runtime tests.
type kindEnv struct {
	sb         *sbox.Sandbox
	cs         kubernetes.Interface
	kubeconfig string // file, for kubectl
}

// TestRuntime grades exec, probe and container-state checks against real
// containers in one kind cluster, made for this test and deleted after it.
func TestRuntime(t *testing.T) {
	t.Parallel()
	env := startKind(t)
	t.Run("exec", func(t *testing.T) { t.Parallel(); testExec(t, env) })
	t.Run("probe", func(t *testing.T) { t.Parallel(); testProbe(t, env) })
	t.Run("container state", func(t *testing.T) { t.Parallel(); testContainerState(t, env) })
	t.Run("watch", func(t *testing.T) { t.Parallel(); testWatchExec(t, env) })
}

func startKind(t *testing.T) kindEnv {
	t.Helper()
	image := kindtest.Image(t)
	dir := t.TempDir()
	p := kindcluster.New(kindcluster.Options{Dir: dir, Image: image, MaxConcurrent: 1})
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := "grader-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := p.Destroy(ctx, id); err != nil {
			t.Errorf("destroy kind cluster: %v", err)
		}
	})
	// Kind takes a minute or two here, more while other builds run.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	sb, err := p.Create(ctx, id, sbox.Spec{})
	if err != nil {
		t.Fatalf("create kind cluster: %v", err)
	}
	cs, err := kubernetes.NewForConfig(sb.Config)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	kc := filepath.Join(dir, "kubectl.kubeconfig")
	if err := os.WriteFile(kc, sb.Kubeconfig, 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return kindEnv{sb: sb, cs: cs, kubeconfig: kc}
}

// namespace creates a namespace with the given labels and its default
// ServiceAccount ready, deleted when the test ends.
func (e kindEnv) namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns, err := e.cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "grader-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	e.waitFor(t, "the default ServiceAccount of "+ns.Name, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := e.cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return ns.Name
}

func (e kindEnv) waitFor(t *testing.T, what string, within time.Duration, cond wait.ConditionWithContextFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (e kindEnv) target(t *testing.T, ns string, extra map[string]string) grader.Target {
	t.Helper()
	target, err := grader.NewTarget(e.sb.Config, ns, extra)
	if err != nil {
		t.Fatalf("NewTarget: %v", err)
	}
	return target
}

// web runs nginx:1.27 as Pod "web" (app=web, ready by its readiness probe)
// behind Service "web", and Pod "pending", which no node accepts.
func (e kindEnv) web(t *testing.T, ns string) *corev1.Service {
	t.Helper()
	ctx := t.Context()
	pods := e.cs.CoreV1().Pods(ns)
	_, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "nginx", Image: "nginx:1.27",
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}}, PeriodSeconds: 1},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Pod web: %v", err)
	}
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pending"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"kubelab.test/nowhere": "true"},
			Containers:   []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Pod pending: %v", err)
	}
	svc, err := e.cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service web: %v", err)
	}
	e.waitFor(t, "Pod web to be ready", 3*time.Minute, func(ctx context.Context) (bool, error) {
		pod, err := pods.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return svc
}

// grade evaluates one check in a one-task chapter.
func grade(t *testing.T, target grader.Target, c labs.Check) grader.CheckResult {
	t.Helper()
	prog, err := grader.Compile(&labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Title: "T", Checks: []labs.Check{c}}}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return prog.Evaluate(t.Context(), target)[0].Checks[0]
}

// runtimeCase is one check and its result; with prefix, the detail only
// has to start with want.Detail (the rest is the container's own words).
type runtimeCase struct {
	name   string
	check  labs.Check
	want   grader.CheckResult
	prefix bool
}

func (tc runtimeCase) run(t *testing.T, target grader.Target) {
	t.Helper()
	got := grade(t, target, tc.check)
	if tc.prefix && strings.HasPrefix(got.Detail, tc.want.Detail) {
		got.Detail = tc.want.Detail
	}
	if diff := cmp.Diff(tc.want, got); diff != "" {
		t.Errorf("check result (-want +got):\n%s", diff)
	}
}

func testExec(t *testing.T, env kindEnv) {
	ns := env.namespace(t, nil)
	env.web(t, ns)
	index := []string{"cat", "/usr/share/nginx/html/index.html"}
	hostname := []string{"cat", "/etc/hostname"}
	ex := func(e labs.Exec) *labs.Exec { return &e }
	tests := []runtimeCase{
		{name: "output holds", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: index}), Expect: "output.contains('Welcome to nginx!')"},
			want: grader.CheckResult{Passed: true}},
		{name: "default expect: exit code 0", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: index})},
			want: grader.CheckResult{Passed: true}},
		{name: "wrong output, derived actual", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: hostname}), Expect: "output == 'nginx'", Message: "hostname"},
			want: grader.CheckResult{Message: "hostname", Detail: `expected: output == 'nginx'; actual: "web\n"`}},
		{name: "wrong output, output as actual", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Container: "nginx", Command: hostname}), Expect: "output.contains('hello')"},
			want: grader.CheckResult{Detail: `expected: output.contains('hello'); actual: "web\n"`}},
		{name: "streams and exit code", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}),
			Expect: "exitCode == 3 && stdout == 'out\\n' && stderr == 'err\\n' && output.contains('out\\n') && output.contains('err\\n')"},
			want: grader.CheckResult{Passed: true}},
		{name: "non-zero exit code", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: []string{"ls", "/nope"}})},
			want: grader.CheckResult{Detail: "expected: exitCode == 0; actual: 2"}},
		{name: "by selector", check: labs.Check{Exec: ex(labs.Exec{Selector: "app=web", Command: hostname}), Expect: "output == 'web\\n'"},
			want: grader.CheckResult{Passed: true}},
		{name: "no Pod matches", check: labs.Check{Exec: ex(labs.Exec{Selector: "app=api", Command: hostname})},
			want: grader.CheckResult{Detail: fmt.Sprintf(`no Pod matching "app=api" in namespace %s`, ns)}},
		{name: "missing Pod", check: labs.Check{Exec: ex(labs.Exec{Pod: "api", Command: hostname}), Message: "run api"},
			want: grader.CheckResult{Message: "run api", Detail: fmt.Sprintf(`no Pod "api" in namespace %s`, ns)}},
		{name: "pending Pod", check: labs.Check{Exec: ex(labs.Exec{Pod: "pending", Command: hostname})},
			want: grader.CheckResult{Detail: `Pod "pending" is not running yet (phase Pending)`}},
		{name: "missing container", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Container: "sidecar", Command: hostname})},
			want: grader.CheckResult{Detail: `Pod "web" has no container "sidecar"`}},
		{name: "no such program", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: []string{"nope"}})},
			want: grader.CheckResult{Detail: `could not run nope in Pod "web": `}, prefix: true},
		{name: "timeout", check: labs.Check{Exec: ex(labs.Exec{Pod: "web", Command: []string{"sleep", "30"}, Timeout: 2 * time.Second})},
			want: grader.CheckResult{Detail: `sleep 30 in Pod "web" did not finish within 2s`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, env.target(t, ns, nil)) // a Target runs one exec at a time
		})
	}
}

func testProbe(t *testing.T, env kindEnv) {
	ns := env.namespace(t, nil)
	// Probes run in "dev" too, where Pod Security enforces restricted.
	dev := env.namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	svc := env.web(t, ns)
	target := env.target(t, ns, map[string]string{"dev": dev})
	pr := func(p labs.Probe) *labs.Probe { return &p }
	fqdn := fmt.Sprintf("web.%s.svc.cluster.local", ns)
	t.Run("cases", func(t *testing.T) {
		tests := []runtimeCase{
			{name: "http status and body", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://web/"}), Expect: "status == 200 && body.contains('Welcome to nginx!') && error == ''"},
				want: grader.CheckResult{Passed: true}},
			{name: "http default expect", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://" + fqdn + "/"})},
				want: grader.CheckResult{Passed: true}},
			{name: "http from another namespace", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://web." + ns + "/", Namespace: "dev"}), Expect: "status == 200"},
				want: grader.CheckResult{Passed: true}},
			{name: "http 404", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://web/nope"}), Expect: "status == 200", Message: "serve /nope"},
				want: grader.CheckResult{Message: "serve /nope", Detail: "expected: status == 200; actual: 404"}},
			{name: "http 404 is an answer", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://web/nope"}), Expect: "status == 404 && error == ''"},
				want: grader.CheckResult{Passed: true}},
			{name: "http to no service", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://nothere/"})},
				want: grader.CheckResult{Detail: `expected: status >= 200 && status <= 399; actual: status 0, body ""; error: bad address 'nothere'`}},
			{name: "http error names the host", check: labs.Check{Probe: pr(labs.Probe{HTTP: "http://nothere/"}), Expect: "status == 0 && error.contains('nothere')"},
				want: grader.CheckResult{Passed: true}},
			{name: "dns", check: labs.Check{Probe: pr(labs.Probe{DNS: fqdn}), Expect: fmt.Sprintf("addresses == ['%s'] && error == ''", svc.Spec.ClusterIP)},
				want: grader.CheckResult{Passed: true}},
			{name: "dns default expect, restricted namespace", check: labs.Check{Probe: pr(labs.Probe{DNS: "kubernetes.default.svc.cluster.local", Namespace: "dev"})},
				want: grader.CheckResult{Passed: true}},
			{name: "dns no such name", check: labs.Check{Probe: pr(labs.Probe{DNS: "nothere." + ns + ".svc.cluster.local"})},
				want: grader.CheckResult{Detail: fmt.Sprintf("expected: addresses.size() > 0; actual: 0; error: server can't find nothere.%s.svc.cluster.local: NXDOMAIN", ns)}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, env.target(t, ns, map[string]string{"dev": dev})) // a Target runs one probe at a time
			})
		}
	})

	// Every probe Pod is gone, and one that is still there (here, one made
	// to look like it) is not counted.
	pods := env.cs.CoreV1().Pods(ns)
	probes, err := pods.List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kubelab-grader"})
	if err != nil {
		t.Fatalf("list probe Pods: %v", err)
	}
	for _, p := range probes.Items {
		t.Errorf("probe Pod %s is left over (phase %s)", p.Name, p.Status.Phase)
	}
	_, err = pods.Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kubelab-probe-fake", Labels: map[string]string{"app.kubernetes.io/managed-by": "kubelab-grader"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36", Command: []string{"sleep", "600"}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a Pod labelled as a probe: %v", err)
	}
	count := labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod"}, Match: labs.MatchCount, Min: intp(2), Max: intp(2)}
	if got := grade(t, target, count); !got.Passed {
		t.Errorf("count of the learner's Pods: %+v, want 2 (web and pending)", got)
	}
}

// testContainerState grades what only real containers show, through the
// Pod's status: restarts, an OOM kill, readiness from a probe.
func testContainerState(t *testing.T, env kindEnv) {
	ns := env.namespace(t, nil)
	env.web(t, ns)
	target := env.target(t, ns, nil)
	_, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hog"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "hog", Image: "busybox:1.36",
			Command: []string{"sh", "-c", `x=$(head -c 100000000 /dev/zero | tr "\0" a); sleep 1`},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("16Mi"), corev1.ResourceCPU: resource.MustParse("500m")}},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Pod hog: %v", err)
	}
	hog := labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "hog"}
	web := labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "web"}
	oom := labs.Check{Resource: hog, Expect: "object.status.containerStatuses.exists(c, has(c.lastState.terminated) && c.lastState.terminated.reason == 'OOMKilled')"}
	restarted := labs.Check{Resource: hog, Expect: "object.status.containerStatuses.all(c, c.restartCount > 0)"}
	env.waitFor(t, "Pod hog to be OOM-killed and restarted", 3*time.Minute, func(ctx context.Context) (bool, error) {
		return grade(t, target, oom).Passed && grade(t, target, restarted).Passed, nil
	})
	tests := []runtimeCase{
		{name: "ready by its probe", check: labs.Check{Resource: web, Expect: "object.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')"},
			want: grader.CheckResult{Passed: true}},
		{name: "no restarts", check: labs.Check{Resource: web, Expect: "object.status.containerStatuses.all(c, c.restartCount == 0)"},
			want: grader.CheckResult{Passed: true}},
		{name: "not OOM-killed", check: labs.Check{Resource: web, Expect: oom.Expect},
			want: grader.CheckResult{Detail: "expected: " + oom.Expect + "; actual: false"}},
		{name: "restarts", check: labs.Check{Resource: hog, Expect: "object.status.containerStatuses[0].restartCount == 0"},
			want: grader.CheckResult{Detail: "expected: object.status.containerStatuses[0].restartCount == 0; actual: "}, prefix: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, target)
		})
	}
}

// testWatchExec turns an exec task green live: a file written inside the
// container makes no API event, the periodic re-evaluation finds it.
func testWatchExec(t *testing.T, env kindEnv) {
	ns := env.namespace(t, nil)
	env.web(t, ns)
	target := env.target(t, ns, nil)
	prog, err := grader.Compile(&labs.Chapter{ID: "c", Tasks: []*labs.Task{
		{ID: "file", Title: "Write the file", Checks: []labs.Check{
			{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "web"}},
			{Exec: &labs.Exec{Pod: "web", Command: []string{"cat", "/tmp/done"}}, Expect: "output == 'yes\\n'"},
		}},
	}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	updates := make(chan []grader.TaskResult, 16)
	done := make(chan error, 1)
	go func() { done <- prog.Watch(ctx, target, func(r []grader.TaskResult) { updates <- r }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("Watch did not return after its context ended")
		}
	}()
	next := func() grader.TaskResult {
		t.Helper()
		select {
		case rs := <-updates:
			return rs[0]
		case <-time.After(2 * time.Minute):
			t.Fatal("no result update")
			return grader.TaskResult{}
		}
	}
	first := next()
	if first.Passed || first.Checks[1].Detail != `expected: output == 'yes\n'; actual: "cat: /tmp/done: No such file or directory\n"` {
		t.Fatalf("first result = %+v, want the exec check failing on the missing file", first)
	}
	kubectl, err := kubectltest.Path()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", env.kubeconfig, "-n", ns,
		"exec", "web", "--", "sh", "-c", "echo yes > /tmp/done").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl exec: %v: %s", err, out)
	}
	if r := next(); !r.Passed {
		t.Fatalf("after writing the file: %+v, want passed", r)
	}
}
