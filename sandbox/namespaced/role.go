package namespaced

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/kubelab/kubelab/sandbox"
)

var (
	all  = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read = []string{"get", "list", "watch"}
)

// learnerRules is namespace admin minus what would let a learner loosen
// their own sandbox: quota, limit ranges and network policies are read-only.
// RBAC objects may be made, changed and deleted (the API server's escalation
// check keeps them within the learner's own rights; an admission policy keeps
// kubelab's own as they are and bindings inside the namespace). Events and
// ControllerRevisions are the controllers' to write: quota cannot count
// events, and learners have no use for making either.
func learnerRules() []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Verbs: all, Resources: []string{
			"pods", "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims",
			"serviceaccounts", "replicationcontrollers", "replicationcontrollers/scale",
		}},
		{APIGroups: []string{""}, Verbs: read, Resources: []string{
			"events", "pods/log", "pods/status", "services/status", "resourcequotas", "resourcequotas/status",
			"limitranges", "namespaces/status",
		}},
		{APIGroups: []string{"apps"}, Verbs: all, Resources: []string{
			"deployments", "deployments/scale", "replicasets", "replicasets/scale",
			"statefulsets", "statefulsets/scale", "daemonsets",
		}},
		{APIGroups: []string{"apps"}, Verbs: []string{"get", "list", "watch", "delete", "deletecollection"}, Resources: []string{"controllerrevisions"}},
		{APIGroups: []string{"apps"}, Verbs: read, Resources: []string{"deployments/status", "replicasets/status", "statefulsets/status", "daemonsets/status"}},
		{APIGroups: []string{"batch"}, Verbs: all, Resources: []string{"jobs", "cronjobs"}},
		{APIGroups: []string{"batch"}, Verbs: read, Resources: []string{"jobs/status", "cronjobs/status"}},
		{APIGroups: []string{"autoscaling"}, Verbs: all, Resources: []string{"horizontalpodautoscalers"}},
		{APIGroups: []string{"policy"}, Verbs: all, Resources: []string{"poddisruptionbudgets"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: all, Resources: []string{"ingresses"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: read, Resources: []string{"networkpolicies"}},
		{APIGroups: []string{"discovery.k8s.io"}, Verbs: read, Resources: []string{"endpointslices"}},
		{APIGroups: []string{"coordination.k8s.io"}, Verbs: all, Resources: []string{"leases"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Verbs: all, Resources: []string{"roles", "rolebindings"}},
		{APIGroups: []string{"authorization.k8s.io"}, Verbs: []string{"create"}, Resources: []string{"localsubjectaccessreviews"}},
	}
	// On the simulated cluster these reach its kubelet stand-in, which runs
	// nothing and answers with a sentence that says why: better than a
	// Forbidden naming the learner's ServiceAccount.
	rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Verbs: []string{"get", "create"},
		Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}})
	return rules
}

// ensureCluster creates or updates the cluster-wide objects kubelab needs
// (the learner and setup ClusterRoles, the system namespace, the admission
// policies) once per process.
func (p *Provisioner) ensureCluster(ctx context.Context) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if p.roleOK {
		return nil
	}
	cr := p.cs.RbacV1().ClusterRoles()
	if err := upsert(ctx, cr, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy}},
		Rules:      learnerRules(),
	}); err != nil {
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
	if err := p.ensurePolicies(ctx); err != nil {
		return err
	}
	p.roleOK = true
	return nil
}

// checkEnforced runs waitEnforced once per process, on the first sandbox.
func (p *Provisioner) checkEnforced(ctx context.Context, ns string) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if p.enforced {
		return nil
	}
	if err := p.waitEnforced(ctx, ns); err != nil {
		return err
	}
	p.enforced = true
	return nil
}

// client is the part of a typed client upsert uses.
type client[T metav1.Object] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

// upsert creates want or replaces the object of that name with it. An
// update that changes nothing is not written, so concurrent upserts of the
// same object do not conflict.
func upsert[T metav1.Object](ctx context.Context, c client[T], want T) error {
	_, err := c.Create(ctx, want, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Another kubelab (or a parallel Create) may update it meanwhile: a
	// conflict means read it again and retry.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		want.SetResourceVersion(cur.GetResourceVersion())
		_, err = c.Update(ctx, want, metav1.UpdateOptions{})
		return err
	})
}
