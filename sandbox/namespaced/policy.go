package namespaced

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/sandbox"
)

// Names of the ValidatingAdmissionPolicies (and their bindings) kubelab
// installs. RBAC grants by kind and verb only; these refuse what a learner's
// rights would otherwise allow: taking capacity from other tenants, minting
// credentials that outlive the sandbox, opening it to other users, and
// undoing kubelab's own RBAC objects.
const (
	LimitsPolicyName = "kubelab-sandbox-limits"
	RBACPolicyName   = "kubelab-sandbox-rbac"
)

// MaxDataBytes bounds the data of one ConfigMap or Secret in a sandbox:
// the kinds made to carry bulk data, and the cheapest way to fill the etcd
// that all sandboxes share. Every other kind is bounded by its count quota
// and the API server's request size.
const MaxDataBytes = 256 << 10

// Messages a learner sees when a policy refuses a request.
const (
	msgPriority = "kubelab: priority classes are reserved for the cluster; remove priorityClassName"
	msgSAToken  = "kubelab: Secrets of type kubernetes.io/service-account-token are not allowed here: " +
		"they hold a token that never expires"
	msgManaged = "belongs to kubelab and keeps your sandbox working; it cannot be changed or deleted " +
		"(the Roles and RoleBindings you made can be)"
)

var (
	forbidden = metav1.StatusReasonForbidden
	tooLarge  = metav1.StatusReasonRequestEntityTooLarge
	fail      = admissionv1.Fail
)

// sandboxNamespaces selects the namespaces of every kubelab instance's
// sandboxes (kubelab-system has no sandbox label).
var sandboxNamespaces = &metav1.LabelSelector{
	MatchLabels:      map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy},
	MatchExpressions: []metav1.LabelSelectorRequirement{{Key: sandbox.LabelSandbox, Operator: metav1.LabelSelectorOpExists}},
}

func rule(group string, ops []admissionv1.OperationType, resources ...string) admissionv1.NamedRuleWithOperations {
	return admissionv1.NamedRuleWithOperations{RuleWithOperations: admissionv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources},
	}}
}

// notAdmin is a CEL condition true for everyone but cluster admins and
// kubelab's own account (admin), which builds the sandboxes.
func notAdmin(admin string) string {
	return fmt.Sprintf(`!('system:masters' in request.userInfo.groups) && request.userInfo.username != %q`, admin)
}

// policies returns kubelab's admission policies; admin is the username
// kubelab's own requests carry.
func policies(admin string) []*admissionv1.ValidatingAdmissionPolicy {
	write := []admissionv1.OperationType{admissionv1.Create, admissionv1.Update}
	// The limits apply to everyone in a sandbox but kubelab: also to the
	// controllers acting for the learner, so a Deployment's pods are
	// refused like the learner's own (the refusal shows in its events), and
	// to chapter setup.
	limits := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: LimitsPolicyName, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy}},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{
				NamespaceSelector: sandboxNamespaces,
				ResourceRules: []admissionv1.NamedRuleWithOperations{
					rule("", write, "pods", "replicationcontrollers", "secrets", "configmaps"),
					rule("apps", write, "deployments", "replicasets", "statefulsets", "daemonsets"),
					rule("batch", write, "jobs", "cronjobs"),
					rule("rbac.authorization.k8s.io", write, "rolebindings"),
				},
			},
			MatchConditions: []admissionv1.MatchCondition{{Name: "not-kubelab", Expression: notAdmin(admin)}},
			Variables: []admissionv1.Variable{
				{Name: "resource", Expression: `request.resource.resource`},
				// A priority class lets a pod preempt other tenants' pods.
				{Name: "priorityClass", Expression: `variables.resource == 'pods' ? object.spec.?priorityClassName.orValue('') :
variables.resource == 'cronjobs' ? object.spec.?jobTemplate.?spec.?template.?spec.?priorityClassName.orValue('') :
object.?spec.?template.?spec.?priorityClassName.orValue('')`},
				{Name: "dataBytes", Expression: `variables.resource in ['configmaps', 'secrets'] ?
[object.?data.orValue({}), object.?binaryData.orValue({})].map(m, m.map(k, size(k) + size(bytes(m[k]))).sum()).sum() : 0`},
			},
			Validations: []admissionv1.Validation{
				{Expression: `variables.priorityClass == ''`, Message: msgPriority, Reason: &forbidden},
				{
					Expression: `variables.resource != 'secrets' || object.?type.orValue('') != 'kubernetes.io/service-account-token'`,
					Message:    msgSAToken, Reason: &forbidden,
				},
				{
					// A binding to a Group, a User or another namespace's
					// account would give others the learner's rights, e.g.
					// system:unauthenticated reading their Secrets.
					Expression: `variables.resource != 'rolebindings' ||
object.?subjects.orValue([]).all(s, s.kind == 'ServiceAccount' && s.?namespace.orValue('') in ['', request.namespace])`,
					MessageExpression: `'kubelab: a RoleBinding here may only name ServiceAccounts of its own namespace (' + request.namespace +
'); Users, Groups and accounts of other namespaces are not allowed'`,
					Reason: &forbidden,
				},
				{
					Expression: fmt.Sprintf(`variables.dataBytes <= %d`, MaxDataBytes),
					MessageExpression: fmt.Sprintf(`'kubelab: this object holds ' + string(variables.dataBytes) +
' bytes of data, more than the %d KiB a sandbox allows per ConfigMap or Secret'`, MaxDataBytes>>10),
					Reason: &tooLarge,
				},
			},
		},
	}
	// A learner may change and delete the Roles and RoleBindings they made,
	// but not kubelab's: those are what confine the learner (RBAC cannot
	// tell them apart, it selects by name at best). Only service accounts
	// outside kube-system are held to it: learners act as nothing else, and
	// the namespace controller must still delete everything when a sandbox
	// ends.
	rbac := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: RBACPolicyName, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy}},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{
				NamespaceSelector: sandboxNamespaces,
				ResourceRules: []admissionv1.NamedRuleWithOperations{
					rule("rbac.authorization.k8s.io", []admissionv1.OperationType{admissionv1.Update, admissionv1.Delete}, "roles", "rolebindings"),
				},
			},
			MatchConditions: []admissionv1.MatchCondition{
				{Name: "not-kubelab", Expression: notAdmin(admin)},
				{Name: "sandbox-account", Expression: `request.userInfo.username.startsWith('system:serviceaccount:') &&
!('system:serviceaccounts:kube-system' in request.userInfo.groups)`},
			},
			Validations: []admissionv1.Validation{{
				Expression:        fmt.Sprintf(`oldObject.?metadata.?labels[?%q].orValue('') != %q`, sandbox.LabelManagedBy, sandbox.ManagedBy),
				MessageExpression: fmt.Sprintf(`'kubelab: ' + oldObject.metadata.name + %q`, " "+msgManaged),
				Message:           "kubelab: this object " + msgManaged,
				Reason:            &forbidden,
			}},
		},
	}
	return []*admissionv1.ValidatingAdmissionPolicy{limits, rbac}
}

// binding puts policy in force, refusing the requests it fails.
func binding(policy string) *admissionv1.ValidatingAdmissionPolicyBinding {
	return &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy}},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	}
}

// ensurePolicies installs the admission policies and their bindings.
func (p *Provisioner) ensurePolicies(ctx context.Context) error {
	ssr, err := p.cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("ensure admission policies: find kubelab's own user: %w", err)
	}
	ar := p.cs.AdmissionregistrationV1()
	for _, pol := range policies(ssr.Status.UserInfo.Username) {
		if err := upsert(ctx, ar.ValidatingAdmissionPolicies(), pol); err != nil {
			return fmt.Errorf("ensure admission policy %s: %w", pol.Name, err)
		}
		if err := upsert(ctx, ar.ValidatingAdmissionPolicyBindings(), binding(pol.Name)); err != nil {
			return fmt.Errorf("ensure admission policy binding %s: %w", pol.Name, err)
		}
	}
	return nil
}

// waitEnforced waits until the API server applies the admission policies
// to the learner of namespace ns, so that no learner ever gets a moment
// without them (a new policy takes effect a little after it is stored). It
// probes with dry-run requests as the learner that the policies refuse.
func (p *Provisioner) waitEnforced(ctx context.Context, ns string) error {
	secs := int64(10 * 60) // the shortest lifetime TokenRequest allows
	tr, err := p.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, ServiceAccountName,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("check admission policies: learner token: %w", err)
	}
	cfg := &rest.Config{Host: p.o.Config.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{
		CAData: p.caData, ServerName: p.o.Config.ServerName, Insecure: p.o.Config.Insecure,
	}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("check admission policies: %w", err)
	}
	dry := []string{metav1.DryRunAll}
	probes := map[string]func(ctx context.Context) error{
		LimitsPolicyName: func(ctx context.Context) error {
			_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "kubelab-probe-", Annotations: map[string]string{corev1.ServiceAccountNameKey: ServiceAccountName}},
				Type:       corev1.SecretTypeServiceAccountToken,
			}, metav1.CreateOptions{DryRun: dry})
			return err
		},
		RBACPolicyName: func(ctx context.Context) error {
			return cs.RbacV1().RoleBindings(ns).Delete(ctx, RoleBindingName, metav1.DeleteOptions{DryRun: dry})
		},
	}
	for name, probe := range probes {
		var last error
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			last = probe(ctx)
			if apierrors.IsNotFound(last) || apierrors.IsForbidden(last) && strings.Contains(last.Error(), "being terminated") {
				// Deleted under us (an orphan sweep): no policy will ever answer.
				return false, fmt.Errorf("namespace %s is being terminated or gone", ns)
			}
			return last != nil && apierrors.IsForbidden(last) && strings.Contains(last.Error(), "kubelab:"), nil
		})
		if err != nil {
			return fmt.Errorf("admission policy %s not in force: %w (last answer: %v)", name, err, last)
		}
	}
	return nil
}
