package namespaced_test

import (
	"context"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
)

// TestCreateDoesNotWaitForTheServiceAccountController: a sandbox is
// ready with its "default" service account even when the controller that
// makes those accounts is far behind (as behind a hundred new namespaces at
// once, scripts/soak), here held off altogether by an admission policy.
func TestCreateDoesNotWaitForTheServiceAccountController(t *testing.T) {
	t.Parallel()
	instance := fmt.Sprintf("sa%d", seq.Add(1))
	name := "kubelab-test-" + instance + "-no-sa-controller"
	ctx := t.Context()
	a := admin(t).AdmissionregistrationV1()
	fail := admissionv1.Fail
	if _, err := a.ValidatingAdmissionPolicies().Create(ctx, &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"serviceaccounts"}}},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "request.userInfo.username != 'system:serviceaccount:kube-system:service-account-controller'",
				Message:    "the service account controller is held off in this test",
			}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ValidatingAdmissionPolicyBindings().Create(ctx, &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{sandbox.LabelInstance: instance}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_ = a.ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = a.ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{})
	})

	p := namespaced.New(namespaced.Options{Config: simclustertest.Cluster(t).AdminConfig(), Simulated: true, Instance: instance})
	sb := newSandbox(t, p, sandbox.Spec{Size: "small", Namespaces: []string{"dev"}})
	for _, ns := range []string{sb.Namespace, sb.Namespaces["dev"]} {
		if _, err := learner(t, sb).CoreV1().Pods(ns).Create(ctx, pod("first"), metav1.CreateOptions{}); err != nil {
			t.Errorf("the learner's first Pod in %s: %v", ns, err)
		}
	}
}
