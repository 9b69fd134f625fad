package namespaced_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
)

func TestMain(m *testing.M) { simclustertest.Main(m) }

var seq atomic.Int64

func provisioner(t testing.TB) *namespaced.Provisioner {
	return namespaced.New(namespaced.Options{Config: simclustertest.Cluster(t).AdminConfig(), Simulated: true})
}

// newSandbox creates a sandbox and destroys it when the test ends.
func newSandbox(t testing.TB, p *namespaced.Provisioner, spec sandbox.Spec) *sandbox.Sandbox {
	t.Helper()
	id := fmt.Sprintf("t%d%d", time.Now().UnixNano()%1e9, seq.Add(1))
	if spec.Owner == "" {
		spec.Owner = "owner-" + id
	}
	spec.Session = "s-" + id
	if spec.Chapter == "" {
		spec.Chapter = "pods"
	}
	spec.TTL = time.Hour
	sb, err := p.Create(t.Context(), id, spec)
	if err != nil {
		t.Fatalf("create sandbox: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Destroy(ctx, id); err != nil {
			t.Errorf("destroy %s: %v", id, err)
		}
	})
	return sb
}

// learner returns a clientset built from the learner's own kubeconfig.
func learner(t testing.TB, sb *sandbox.Sandbox) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(sb.Kubeconfig)
	if err != nil {
		t.Fatalf("parse learner kubeconfig: %v", err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func admin(t testing.TB) kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(simclustertest.Cluster(t).AdminConfig())
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
}

func TestOwnNamespaceWorkflow(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{Chapter: "namespaces", Namespaces: []string{"dev", "prod"}})
	ctx := t.Context()

	kc, err := clientcmd.Load(sb.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var contexts []string
	for name, c := range kc.Contexts {
		contexts = append(contexts, name+"="+c.Namespace)
	}
	want := []string{"namespaces=" + sb.Namespace, "namespaces-dev=" + sb.Namespaces["dev"], "namespaces-prod=" + sb.Namespaces["prod"]}
	if diff := cmp.Diff(want, contexts, sortStrings); diff != "" {
		t.Errorf("kubeconfig contexts (-want +got):\n%s", diff)
	}
	if kc.CurrentContext != "namespaces" {
		t.Errorf("current context = %q, want namespaces", kc.CurrentContext)
	}

	for _, cs := range []kubernetes.Interface{learner(t, sb), kubernetes.NewForConfigOrDie(sb.Config)} {
		for _, ns := range []string{sb.Namespace, sb.Namespaces["dev"], sb.Namespaces["prod"]} {
			name := fmt.Sprintf("web%d", seq.Add(1))
			// No resources given: the LimitRange fills them in, so kubectl run works.
			got, err := cs.CoreV1().Pods(ns).Create(ctx, pod(name), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create pod in %s: %v", ns, err)
			}
			if got.Spec.Containers[0].Resources.Limits.Cpu().IsZero() {
				t.Errorf("pod in %s got no default cpu limit", ns)
			}
			if _, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("list pods in %s: %v", ns, err)
			}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Errorf("create configmap in %s: %v", ns, err)
			}
			one := int32(1)
			if _, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"d": name}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"d": name}}, Spec: pod(name).Spec}},
			}, metav1.CreateOptions{}); err != nil {
				t.Errorf("create deployment in %s: %v", ns, err)
			}
			if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
				t.Errorf("create service in %s: %v", ns, err)
			}
			if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}); err != nil {
				t.Errorf("create a narrow role in %s: %v", ns, err)
			}
			if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete pod in %s: %v", ns, err)
			}
		}
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: got %v, want Forbidden", what, err)
	}
}

func TestOtherLearnersNamespaceForbidden(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	a := newSandbox(t, p, sandbox.Spec{})
	b := newSandbox(t, p, sandbox.Spec{Namespaces: []string{"extra"}})
	ctx := t.Context()
	if _, err := admin(t).CoreV1().Pods(b.Namespace).Create(ctx, pod("victim"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs := learner(t, a)
	for _, ns := range []string{b.Namespace, b.Namespaces["extra"], "default", "kube-system"} {
		tests := []struct {
			verb string
			do   func() error
		}{
			{"get", func() error { _, err := cs.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{}); return err }},
			{"list", func() error { _, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); return err }},
			{"watch", func() error { _, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{}); return err }},
			{"create", func() error {
				_, err := cs.CoreV1().Pods(ns).Create(ctx, pod("intruder"), metav1.CreateOptions{})
				return err
			}},
			{"delete", func() error { return cs.CoreV1().Pods(ns).Delete(ctx, "victim", metav1.DeleteOptions{}) }},
			{"logs", func() error { return cs.CoreV1().Pods(ns).GetLogs("victim", &corev1.PodLogOptions{}).Do(ctx).Error() }},
			{"exec", func() error {
				return cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name("victim").SubResource("exec").
					Param("command", "sh").Do(ctx).Error()
			}},
			{"secrets", func() error { _, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); return err }},
		}
		for _, tt := range tests {
			wantForbidden(t, tt.verb+" in "+ns, tt.do())
		}
	}
}

func TestClusterScopeForbidden(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	cs := learner(t, newSandbox(t, p, sandbox.Spec{}))
	ctx := t.Context()
	tests := []struct {
		what string
		do   func() error
	}{
		{"list nodes", func() error { _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); return err }},
		{"list namespaces", func() error { _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); return err }},
		{"create namespace", func() error {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
			return err
		}},
		{"list clusterroles", func() error { _, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{}); return err }},
		{"list clusterrolebindings", func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list secrets everywhere", func() error { _, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err }},
		{"list pods everywhere", func() error { _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); return err }},
		{"list persistentvolumes", func() error { _, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{}); return err }},
	}
	for _, tt := range tests {
		wantForbidden(t, tt.what, tt.do())
	}
}

func TestEscalationRefused(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{})
	other := newSandbox(t, p, sandbox.Spec{})
	cs := learner(t, sb)
	ctx := t.Context()
	ns := sb.Namespace
	me := rbacv1.Subject{Kind: "ServiceAccount", Name: namespaced.ServiceAccountName, Namespace: ns}
	bind := func(in, role, kind string) error {
		_, err := cs.RbacV1().RoleBindings(in).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "escalate-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: kind, Name: role},
			Subjects:   []rbacv1.Subject{me},
		}, metav1.CreateOptions{})
		return err
	}
	tests := []struct {
		what string
		do   func() error
	}{
		{"bind cluster-admin in own namespace", func() error { return bind(ns, "cluster-admin", "ClusterRole") }},
		{"bind admin in own namespace", func() error { return bind(ns, "admin", "ClusterRole") }},
		{"bind edit in own namespace", func() error { return bind(ns, "edit", "ClusterRole") }},
		{"bind admin in another sandbox", func() error { return bind(other.Namespace, "admin", "ClusterRole") }},
		{"bind learner role in another sandbox", func() error { return bind(other.Namespace, namespaced.ClusterRoleName, "ClusterRole") }},
		{"bind cluster-admin cluster-wide", func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "escalate"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{me},
			}, metav1.CreateOptions{})
			return err
		}},
		{"create a wildcard role", func() error {
			_, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "all"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}, metav1.CreateOptions{})
			return err
		}},
		{"edit own rolebinding", func() error {
			rb, err := cs.RbacV1().RoleBindings(ns).Get(ctx, namespaced.RoleBindingName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "Group", Name: "system:authenticated"})
			_, err = cs.RbacV1().RoleBindings(ns).Update(ctx, rb, metav1.UpdateOptions{})
			return err
		}},
		{"delete own rolebinding", func() error {
			return cs.RbacV1().RoleBindings(ns).Delete(ctx, namespaced.RoleBindingName, metav1.DeleteOptions{})
		}},
		{"edit a role", func() error {
			_, err := admin(t).RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "narrow"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			r, err := cs.RbacV1().Roles(ns).Get(ctx, "narrow", metav1.GetOptions{})
			if err != nil {
				return err
			}
			r.Rules[0].Verbs = []string{"*"}
			_, err = cs.RbacV1().Roles(ns).Update(ctx, r, metav1.UpdateOptions{})
			return err
		}},
		{"edit resource quota", func() error {
			q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "kubelab-quota", metav1.GetOptions{})
			if err != nil {
				return err
			}
			q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("100000")
			_, err = cs.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
			return err
		}},
		{"delete resource quota", func() error {
			return cs.CoreV1().ResourceQuotas(ns).Delete(ctx, "kubelab-quota", metav1.DeleteOptions{})
		}},
		{"edit limit range", func() error {
			return cs.CoreV1().LimitRanges(ns).Delete(ctx, "kubelab-limits", metav1.DeleteOptions{})
		}},
		{"delete network policy", func() error {
			return cs.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "kubelab-isolation", metav1.DeleteOptions{})
		}},
		{"relabel own namespace", func() error {
			_, err := cs.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json",
				[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`), metav1.PatchOptions{})
			return err
		}},
		{"create a privileged pod", func() error {
			pr := pod("priv")
			yes := true
			pr.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
			_, err := cs.CoreV1().Pods(ns).Create(ctx, pr, metav1.CreateOptions{})
			return err
		}},
		{"create a host-network pod", func() error {
			pr := pod("hostnet")
			pr.Spec.HostNetwork = true
			_, err := cs.CoreV1().Pods(ns).Create(ctx, pr, metav1.CreateOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		wantForbidden(t, tt.what, tt.do())
	}
}

func TestQuotaHoldsABigDeployment(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	greedy := newSandbox(t, p, sandbox.Spec{Size: "small"})
	quiet := newSandbox(t, p, sandbox.Spec{Size: "small"})
	ctx := t.Context()
	cs := learner(t, greedy)
	n := int32(1000)
	_, err := cs.AppsV1().Deployments(greedy.Namespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "flood"},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"d": "flood"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"d": "flood"}}, Spec: pod("x").Spec}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	// The quota fills up and stays at its limit.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(greedy.Namespace).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) >= 10, nil
	})
	if err != nil {
		t.Fatalf("deployment never reached the quota: %v", err)
	}
	time.Sleep(time.Second) // let the ReplicaSet controller try for more
	pods, err := cs.CoreV1().Pods(greedy.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 10 {
		t.Errorf("pods in the flooded sandbox = %d, want the quota's 10", len(pods.Items))
	}
	if _, err := learner(t, quiet).CoreV1().Pods(quiet.Namespace).Create(ctx, pod("calm"), metav1.CreateOptions{}); err != nil {
		t.Errorf("another sandbox cannot create a pod: %v", err)
	}
}

func TestIdempotentAndList(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	ctx := t.Context()
	id := fmt.Sprintf("idem%d", seq.Add(1))
	spec := sandbox.Spec{Owner: "o", Session: "s", Chapter: "c", Size: "medium", Namespaces: []string{"x"}, TTL: time.Hour}
	var steps []string
	spec.Progress = func(s string) { steps = append(steps, s) }
	a, err := p.Create(ctx, id, spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"namespace", "rbac", "quota", "network policy", "token"}, steps); diff != "" {
		t.Errorf("progress steps (-want +got):\n%s", diff)
	}
	b, err := p.Create(ctx, id, spec)
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	if a.Namespace != b.Namespace || a.Namespace != sandbox.NamespaceName(id, "") {
		t.Errorf("namespaces %q, %q; want %q", a.Namespace, b.Namespace, sandbox.NamespaceName(id, ""))
	}
	// A fresh provisioner (a restarted kubelab) finds it with working credentials.
	got, err := provisioner(t).Get(ctx, id)
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if diff := cmp.Diff(a.Namespaces, got.Namespaces); diff != "" {
		t.Errorf("namespaces after restart (-want +got):\n%s", diff)
	}
	if _, err := kubernetes.NewForConfigOrDie(got.Config).CoreV1().Pods(got.Namespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("learner config after restart: %v", err)
	}
	ids, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+strings.Join(ids, " ")+" ", " "+id+" ") {
		t.Errorf("List = %v, missing %s", ids, id)
	}
	for range 2 {
		if err := p.Destroy(ctx, id); err != nil {
			t.Fatalf("destroy: %v", err)
		}
	}
	ids, err = p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ids {
		if x == id {
			t.Errorf("List after Destroy still has %s", id)
		}
	}
	if _, err := provisioner(t).Get(ctx, id); err == nil {
		t.Error("Get after Destroy: want ErrNotFound")
	}
}

func TestClaimWarmSandbox(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	ctx := t.Context()
	id := fmt.Sprintf("warm%d", seq.Add(1))
	t.Cleanup(func() { _ = p.Destroy(context.Background(), id) })
	if _, err := p.Create(ctx, id, sandbox.Spec{Size: "small"}); err != nil {
		t.Fatal(err)
	}
	sb, err := p.Claim(ctx, id, sandbox.Spec{Owner: "alice", Session: "sess1", Chapter: "pods", TTL: time.Hour})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	ns, err := admin(t).CoreV1().Namespaces().Get(ctx, sb.Namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[sandbox.LabelOwner] != "alice" || ns.Labels[sandbox.LabelSession] != "sess1" {
		t.Errorf("labels after claim = %v", ns.Labels)
	}
	if _, err := learner(t, sb).CoreV1().Pods(sb.Namespace).Create(ctx, pod("a"), metav1.CreateOptions{}); err != nil {
		t.Errorf("claimed sandbox: create pod: %v", err)
	}
}
