package labtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/grader/labtest"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
)

func TestMain(m *testing.M) { simclustertest.Main(m) }

// kubectlRunner runs scripts with bash and kubelab's kubectl directly, with
// only the learner's kubeconfig (the jail is tested on its own).
type kubectlRunner struct {
	kubeconfig, home string
	env              []string
}

func (r kubectlRunner) Run(ctx context.Context, script string) ([]byte, error) {
	kubectl, err := kubectltest.Path()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append([]string{"PATH=" + filepath.Dir(kubectl) + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + r.home, "KUBECONFIG=" + r.kubeconfig}, r.env...)
	cmd.Dir = r.home
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.Bytes(), err
}

// newSandbox makes a namespace, a learner ServiceAccount with the admin
// role in it, and a kubeconfig holding only that account's token.
func newSandbox(t *testing.T) func(ctx context.Context, ch *labs.Chapter) (labtest.Env, func(), error) {
	return func(ctx context.Context, ch *labs.Chapter) (labtest.Env, func(), error) {
		ns := simclustertest.Namespace(t)
		cfg := simclustertest.Cluster(t).AdminConfig()
		extra := map[string]string{}
		for _, logical := range ch.Namespaces {
			extra[logical] = simclustertest.Namespace(t)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return labtest.Env{}, nil, err
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "learner"}}, metav1.CreateOptions{}); err != nil {
			return labtest.Env{}, nil, fmt.Errorf("service account: %w", err)
		}
		for _, n := range append([]string{ns}, slices.Collect(maps.Values(extra))...) {
			if _, err := cs.RbacV1().RoleBindings(n).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "learner"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "learner", Namespace: ns}},
			}, metav1.CreateOptions{}); err != nil {
				return labtest.Env{}, nil, fmt.Errorf("role binding: %w", err)
			}
		}
		tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "learner", &authv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			return labtest.Env{}, nil, fmt.Errorf("token: %w", err)
		}
		ca := cfg.CAData
		if len(ca) == 0 {
			if ca, err = os.ReadFile(cfg.CAFile); err != nil {
				return labtest.Env{}, nil, fmt.Errorf("ca: %w", err)
			}
		}
		home := t.TempDir()
		kc := clientcmdapi.NewConfig()
		kc.Clusters["sim"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca}
		kc.AuthInfos["learner"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
		kc.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sim", AuthInfo: "learner", Namespace: ns}
		kc.CurrentContext = "sandbox"
		// The sandbox's conventions for extra namespaces (the lessons use
		// them): $NS_<LOGICAL> holds the real name, and a context
		// <chapter>-<logical> points at it.
		var env []string
		for logical, real := range extra {
			env = append(env, "NS_"+strings.ToUpper(strings.ReplaceAll(logical, "-", "_"))+"="+real)
			kc.Contexts[ch.ID+"-"+logical] = &clientcmdapi.Context{Cluster: "sim", AuthInfo: "learner", Namespace: real}
		}
		path := filepath.Join(home, "kubeconfig")
		if err := clientcmd.WriteToFile(*kc, path); err != nil {
			return labtest.Env{}, nil, err
		}
		target, err := grader.NewTarget(cfg, ns, extra)
		if err != nil {
			return labtest.Env{}, nil, err
		}
		runner := kubectlRunner{kubeconfig: path, home: home, env: env}
		// The session's setup (kubelab serve runs it with setup credentials;
		// the learner's admin role is enough here).
		for _, task := range ch.Tasks {
			if task.Setup != "" {
				if out, err := runner.Run(ctx, task.Setup); err != nil {
					return labtest.Env{}, nil, fmt.Errorf("setup of %s: %w: %s", task.ID, err, out)
				}
			}
		}
		return labtest.Env{Target: target, Runner: runner}, func() {}, nil
	}
}

func deployment(name string) labs.Resource {
	return labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: name}
}

func TestRun(t *testing.T) {
	t.Parallel()
	good := &labs.Chapter{ID: "deployments", Tasks: []*labs.Task{
		{ID: "create", Solution: "kubectl create deployment web --image=nginx:1.25 --replicas=2", Checks: []labs.Check{
			{Resource: deployment("web"), Expect: "object.spec.replicas == 2"},
			// Controllers (and the simulated nodes) must make the pods ready.
			{Resource: deployment("web"), Expect: "has(object.status.readyReplicas) && object.status.readyReplicas == 2"},
		}},
		{ID: "scale", Solution: "kubectl scale deployment web --replicas=3", Checks: []labs.Check{
			{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "app=web"}, Match: labs.MatchCount, Min: intp(3),
				Expect: "object.status.phase == 'Running'"},
		}},
		{ID: "fix", Setup: "kubectl create configmap settings --from-literal=mode=brken",
			Solution: "kubectl create configmap settings --from-literal=mode=prod --dry-run=client -o yaml | kubectl apply -f -",
			Checks:   []labs.Check{{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings"}, Expect: "object.data.mode == 'prod'"}}},
	}}
	broken := &labs.Chapter{ID: "broken", Tasks: []*labs.Task{
		{ID: "done-already", Setup: "kubectl create configmap a", Solution: "true",
			Checks: []labs.Check{{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "a"}}}},
		{ID: "wrong-solution", Solution: "kubectl create configmap b", Checks: []labs.Check{
			{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "b"}, Expect: "has(object.data)", Message: "b has data"}}},
		{ID: "failing-script", Solution: "kubectl get nodes", Checks: []labs.Check{{Resource: deployment("x")}}},
		{ID: "free-credit", Solution: "kubectl create configmap c", Checks: []labs.Check{
			{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "c"}, Message: "c exists"},
			{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Selector: "gone=yes"}, Match: labs.MatchCount, Max: intp(0), Message: "gone is gone"},
		}},
		{ID: "precondition", Solution: "kubectl create configmap d", Checks: []labs.Check{
			{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "d"}},
			{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Selector: "gone=yes"}, Match: labs.MatchCount, Max: intp(0), Precondition: true},
		}},
	}}
	var out bytes.Buffer
	rep, err := labtest.Run(t.Context(), labtest.Options{
		Chapters:     []*labs.Chapter{good, broken},
		NewSandbox:   newSandbox(t),
		Out:          &out,
		PassTimeout:  3 * time.Second,
		PollInterval: 100 * time.Millisecond,
	})
	t.Logf("report:\n%s", out.String())
	if !errors.Is(err, labtest.ErrFailed) {
		t.Errorf("Run error = %v, want ErrFailed", err)
	}
	type brief struct {
		Chapter, Task string
		Passed        bool
		Problem       string
	}
	var got []brief
	for _, c := range rep.Chapters {
		for _, tr := range c.Tasks {
			p := tr.Problem
			if i := strings.Index(p, ":"); i > 0 && strings.HasPrefix(p, "solution") {
				p = p[:i]
			}
			got = append(got, brief{c.ID, tr.ID, tr.Passed, p})
		}
	}
	want := []brief{
		{"deployments", "create", true, ""},
		{"deployments", "scale", true, ""},
		{"deployments", "fix", true, ""},
		{"broken", "done-already", false, "checks pass before the solution ran (the task is already done when the learner arrives)"},
		{"broken", "wrong-solution", false, "checks still fail 3s after the solution: check 1 (b has data): expected: has(object.data); actual: false"},
		{"broken", "failing-script", false, "solution"},
		{"broken", "free-credit", false, "check 2 (gone is gone) already passes when the learner arrives, so it gives credit for nothing done; " +
			"make it measure the learner's work, or mark it `precondition: true` so it scores nothing"},
		{"broken", "precondition", true, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("task reports (-want +got):\n%s", diff)
	}
	if f := rep.Failed(); f != 4 {
		t.Errorf("Failed() = %d, want 4", f)
	}
	if last := rep.Chapters[1].Tasks[2]; !strings.Contains(last.Output, "forbidden") {
		t.Errorf("failing script output = %q, want the learner's forbidden error", last.Output)
	}
}

func TestRunChapterFilter(t *testing.T) {
	t.Parallel()
	_, err := labtest.Run(t.Context(), labtest.Options{
		Chapters:   []*labs.Chapter{{ID: "a"}},
		Chapter:    "b",
		NewSandbox: newSandbox(t),
	})
	if err == nil || err.Error() != `labs test: no chapter "b"` {
		t.Errorf("Run error = %v, want no chapter", err)
	}
}

func intp(i int) *int { return &i }
