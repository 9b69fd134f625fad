package namespaced

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/sandbox"
)

var (
	all  = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read = []string{"get", "list", "watch"}
)

// learnerRules is namespace admin minus what would let a learner loosen
// their own sandbox: quota, limit ranges and network policies are read-only,
// and RBAC objects may be read and created (the API server's escalation
// check keeps new ones within the learner's own rights) but not changed or
// deleted, so the kubelab-owned RoleBinding stays as it is. Interactive pod
// access is granted only on a real cluster: the simulated one runs no
// containers to exec into.
func learnerRules(simulated bool) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Verbs: all, Resources: []string{
			"pods", "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims",
			"serviceaccounts", "replicationcontrollers", "replicationcontrollers/scale", "events",
		}},
		{APIGroups: []string{""}, Verbs: read, Resources: []string{
			"pods/log", "pods/status", "services/status", "resourcequotas", "resourcequotas/status",
			"limitranges", "namespaces/status",
		}},
		{APIGroups: []string{"apps"}, Verbs: all, Resources: []string{
			"deployments", "deployments/scale", "replicasets", "replicasets/scale",
			"statefulsets", "statefulsets/scale", "daemonsets", "controllerrevisions",
		}},
		{APIGroups: []string{"apps"}, Verbs: read, Resources: []string{"deployments/status", "replicasets/status", "statefulsets/status", "daemonsets/status"}},
		{APIGroups: []string{"batch"}, Verbs: all, Resources: []string{"jobs", "cronjobs"}},
		{APIGroups: []string{"batch"}, Verbs: read, Resources: []string{"jobs/status", "cronjobs/status"}},
		{APIGroups: []string{"autoscaling"}, Verbs: all, Resources: []string{"horizontalpodautoscalers"}},
		{APIGroups: []string{"policy"}, Verbs: all, Resources: []string{"poddisruptionbudgets"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: all, Resources: []string{"ingresses"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: read, Resources: []string{"networkpolicies"}},
		{APIGroups: []string{"discovery.k8s.io"}, Verbs: read, Resources: []string{"endpointslices"}},
		{APIGroups: []string{"coordination.k8s.io"}, Verbs: all, Resources: []string{"leases"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Verbs: []string{"get", "list", "watch", "create"}, Resources: []string{"roles", "rolebindings"}},
		{APIGroups: []string{"authorization.k8s.io"}, Verbs: []string{"create"}, Resources: []string{"localsubjectaccessreviews"}},
	}
	if !simulated {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Verbs: []string{"get", "create"},
			Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}})
	}
	return rules
}

// ensureClusterRole creates or updates the learner ClusterRole once per
// process.
func (p *Provisioner) ensureClusterRole(ctx context.Context) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if p.roleOK {
		return nil
	}
	want := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy}},
		Rules:      learnerRules(p.o.Simulated),
	}
	cr := p.cs.RbacV1().ClusterRoles()
	_, err := cr.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *rbacv1.ClusterRole
		if cur, err = cr.Get(ctx, ClusterRoleName, metav1.GetOptions{}); err == nil {
			cur.Rules = want.Rules
			_, err = cr.Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("ensure cluster role %s: %w", ClusterRoleName, err)
	}
	// Setup may do anything inside a sandbox's namespaces (a RoleBinding
	// confines this ClusterRole to them) and nothing outside.
	setup := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: SetupRoleName, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}
	if err := create(ctx, cr.Create, setup); err != nil {
		return fmt.Errorf("ensure cluster role %s: %w", SetupRoleName, err)
	}
	if err := create(ctx, p.cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: SystemNamespace, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy},
	}}); err != nil {
		return fmt.Errorf("ensure namespace %s: %w", SystemNamespace, err)
	}
	p.roleOK = true
	return nil
}
