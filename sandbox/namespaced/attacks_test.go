package namespaced_test

// Each test here is an attack from issue 11, run against the simulated
// cluster as a learner.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/namespaced"
)

// wantRefused fails t unless err is a Forbidden answer whose message has want.
func wantRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: got %v, want Forbidden with %q", what, err, want)
	}
}

func TestQuotaStopsObjectFlood(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{Size: "small"})
	cs := learner(t, sb)
	ns := sb.Namespace
	ctx := t.Context()
	tests := []struct {
		kind   string
		quota  int // objects allowed, counting those the sandbox starts with
		starts int
		create func(name string) error
	}{
		{"configmaps", 20, 1 /* kube-root-ca.crt */, func(name string) error {
			_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			return err
		}},
		{"leases", 5, 0, func(name string) error {
			_, err := cs.CoordinationV1().Leases(ns).Create(ctx, &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			return err
		}},
		{"serviceaccounts", 10, 2 /* default, learner */, func(name string) error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			return err
		}},
		{"roles", 10, 0, func(name string) error {
			_, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			made := 0
			var err error
			for i := range tt.quota + 5 {
				if err = tt.create(fmt.Sprintf("flood-%d", i)); err != nil {
					break
				}
				made++
			}
			if want := tt.quota - tt.starts; made != want {
				t.Errorf("made %d %s before a refusal, want %d", made, tt.kind, want)
			}
			wantRefused(t, tt.kind+" beyond the quota", err, "exceeded quota")
		})
	}
}

func TestControllerRevisionsAndEventsAreNotLearners(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{})
	cs := learner(t, sb)
	ctx := t.Context()
	// The attack: ~1 MB ControllerRevisions in a loop.
	big := strings.Repeat("x", 900<<10)
	_, err := cs.AppsV1().ControllerRevisions(sb.Namespace).Create(ctx, &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "fill"},
		Data:       runtime.RawExtension{Raw: []byte(fmt.Sprintf(`{"fill":%q}`, big))},
		Revision:   1,
	}, metav1.CreateOptions{})
	wantForbidden(t, "create a controller revision", err)
	_, err = cs.CoreV1().Events(sb.Namespace).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "fill"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "x", Namespace: sb.Namespace},
		Message:        big,
	}, metav1.CreateOptions{})
	wantForbidden(t, "create an event", err)
	if _, err := cs.AppsV1().ControllerRevisions(sb.Namespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list controller revisions (kubectl rollout history): %v", err)
	}
}

func TestDataSizeBounded(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{})
	cs := learner(t, sb)
	ns := sb.Namespace
	ctx := t.Context()
	cm := func(name string, n int) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": strings.Repeat("x", n)}}
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm("fits", 200<<10), metav1.CreateOptions{}); err != nil {
		t.Errorf("create a 200 KiB configmap: %v", err)
	}
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm("huge", 900<<10), metav1.CreateOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) || !strings.Contains(err.Error(), "kubelab: this object holds") {
		t.Errorf("create a 900 KiB configmap: got %v, want RequestEntityTooLarge from kubelab", err)
	}
	grown, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "fits", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	grown.Data["k"] = strings.Repeat("x", 300<<10)
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, grown, metav1.UpdateOptions{}); !apierrors.IsRequestEntityTooLargeError(err) {
		t.Errorf("grow a configmap to 300 KiB: got %v, want RequestEntityTooLarge", err)
	}
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "huge"},
		Data: map[string][]byte{"k": make([]byte, 300<<10)}}, metav1.CreateOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Errorf("create a 300 KiB secret: got %v, want RequestEntityTooLarge", err)
	}
}

func TestPriorityClassRefused(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{})
	cs := learner(t, sb)
	ns := sb.Namespace
	ctx := t.Context()
	const msg = "kubelab: priority classes are reserved for the cluster; remove priorityClassName"
	critical := pod("critical")
	critical.Spec.PriorityClassName = "system-node-critical"
	_, err := cs.CoreV1().Pods(ns).Create(ctx, critical, metav1.CreateOptions{})
	wantRefused(t, "create a system-node-critical pod", err, msg)

	one := int32(1)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "critical"}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels}, Spec: critical.Spec}
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "critical"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	wantRefused(t, "create a deployment of system-node-critical pods", err, msg)

	// Controllers are held to it too: a ReplicaSet that got in anyway (made
	// by an admin) gets no pods, and says why.
	if _, err := admin(t).AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "critical"},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "critical", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				got = c.Message
			}
		}
		return got != "", nil
	})
	if err != nil || !strings.Contains(got, msg) {
		t.Errorf("replica set failure = %q (%v), want it to say %q", got, err, msg)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=critical"})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("system-node-critical pods made by the controller: %d (%v), want none", len(pods.Items), err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("plain"), metav1.CreateOptions{}); err != nil {
		t.Errorf("create a pod without a priority class: %v", err)
	}
}

func TestServiceAccountTokenSecretRefused(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{})
	cs := learner(t, sb)
	ctx := t.Context()
	_, err := cs.CoreV1().Secrets(sb.Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "forever", Annotations: map[string]string{corev1.ServiceAccountNameKey: namespaced.ServiceAccountName}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{})
	wantRefused(t, "create a service account token secret", err, "kubelab: Secrets of type kubernetes.io/service-account-token are not allowed")
	if _, err := cs.CoreV1().Secrets(sb.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		StringData: map[string]string{"password": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("create an opaque secret: %v", err)
	}
}

func TestRoleBindingSubjectsStayInside(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{})
	other := newSandbox(t, p, sandbox.Spec{})
	cs := learner(t, sb)
	ns := sb.Namespace
	ctx := t.Context()
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(s rbacv1.Subject) error {
		_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "b-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"},
			Subjects:   []rbacv1.Subject{s},
		}, metav1.CreateOptions{})
		return err
	}
	const msg = "kubelab: a RoleBinding here may only name ServiceAccounts of its own namespace"
	tests := []struct {
		name    string
		subject rbacv1.Subject
		ok      bool
	}{
		{"anonymous users", rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:unauthenticated"}, false},
		{"every user", rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:authenticated"}, false},
		{"a user", rbacv1.Subject{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}, false},
		{"a service account as a user", rbacv1.Subject{Kind: "User", APIGroup: "rbac.authorization.k8s.io",
			Name: "system:serviceaccount:" + other.Namespace + ":learner"}, false},
		{"another sandbox's account", rbacv1.Subject{Kind: "ServiceAccount", Name: "learner", Namespace: other.Namespace}, false},
		{"kube-system's account", rbacv1.Subject{Kind: "ServiceAccount", Name: "default", Namespace: "kube-system"}, false},
		{"an account of this namespace", rbacv1.Subject{Kind: "ServiceAccount", Name: "default", Namespace: ns}, true},
		{"an account of this namespace, namespace left out", rbacv1.Subject{Kind: "ServiceAccount", Name: "default"}, true},
	}
	for _, tt := range tests {
		err := bind(tt.subject)
		if tt.ok && err != nil {
			t.Errorf("bind %s: %v", tt.name, err)
		}
		if !tt.ok {
			wantRefused(t, "bind "+tt.name, err, msg)
		}
	}
	// Nor can an allowed binding be widened afterwards.
	rb, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "widen"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:unauthenticated"})
	_, err = cs.RbacV1().RoleBindings(ns).Update(ctx, rb, metav1.UpdateOptions{})
	wantRefused(t, "add system:unauthenticated to a binding", err, msg)
}

func TestLearnerManagesOwnRBACOnly(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	sb := newSandbox(t, p, sandbox.Spec{Namespaces: []string{"dev"}})
	cs := learner(t, sb)
	ctx := t.Context()
	for _, ns := range []string{sb.Namespace, sb.Namespaces["dev"]} {
		roles, bindings := cs.RbacV1().Roles(ns), cs.RbacV1().RoleBindings(ns)
		r, err := roles.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "mine"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create a role in %s: %v", ns, err)
		}
		r.Rules[0].Verbs = []string{"get", "list"}
		if _, err := roles.Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Errorf("update own role in %s: %v", ns, err)
		}
		if _, err := bindings.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mine"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "mine"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create a role binding in %s: %v", ns, err)
		}
		if err := bindings.Delete(ctx, "mine", metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete own role binding in %s: %v", ns, err)
		}
		if err := roles.Delete(ctx, "mine", metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete own role in %s: %v", ns, err)
		}

		const msg = "belongs to kubelab and keeps your sandbox working"
		for _, name := range []string{namespaced.RoleBindingName, namespaced.SetupRoleName} {
			wantRefused(t, "delete "+name+" in "+ns, bindings.Delete(ctx, name, metav1.DeleteOptions{}), msg)
			// Refused by whichever check comes first: RBAC's escalation
			// check, or either policy.
			_, err := bindings.Patch(ctx, name, "application/merge-patch+json",
				[]byte(`{"metadata":{"labels":{"`+sandbox.LabelManagedBy+`":null}}}`), metav1.PatchOptions{})
			wantForbidden(t, "unlabel "+name+" in "+ns, err)
		}
		wantRefused(t, "delete every role binding in "+ns, bindings.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}), msg)
	}
	if _, err := cs.CoreV1().Pods(sb.Namespaces["dev"]).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the learner lost their rights: %v", err)
	}
}

// TestDestroyDeletesKubelabRBAC: the namespace controller still deletes
// what the learner may not.
func TestDestroyDeletesKubelabRBAC(t *testing.T) {
	t.Parallel()
	p := provisioner(t)
	ctx := t.Context()
	id := fmt.Sprintf("gone%d", seq.Add(1))
	if _, err := p.Create(ctx, id, sandbox.Spec{Owner: "o", Session: "s", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := p.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	ns := sandbox.NamespaceName(id, "")
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := admin(t).CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("namespace %s never went away: %v", ns, err)
	}
}
