package simcluster_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
)

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(simclustertest.Cluster(t).AdminConfig())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return cs
}

// kubectl runs kubelab's kubectl against the admin kubeconfig.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := kubectltest.Path()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--kubeconfig", simclustertest.Cluster(t).KubeconfigPath()}, args...)
	out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond every 50ms until it returns true or 60s pass.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

func labels(app string) map[string]string { return map[string]string{"app": app} }

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels(app)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: image,
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}},
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels(name)},
			Template: podTemplate(name, "nginx:1.25"),
		},
	}
}

func waitAvailable(t *testing.T, cs kubernetes.Interface, ns, name string, want int32) {
	t.Helper()
	eventually(t, "deployment "+name+" available", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.AvailableReplicas == want && d.Status.UpdatedReplicas == want && d.Status.Replicas == want, nil
	})
}
