package podshell_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubelab/kubelab/sandbox/podshell"
)

func TestPodName(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, want string }{
		{"abc-123", "kubelab-workspace-abc-123"},
		{"ABC_def.9", "kubelab-workspace-abcdef9"},
		{"", "kubelab-workspace-x"},
		{"0123456789012345678901234567890123456789012345678901234567890123456789", "kubelab-workspace-012345678901234567890123456789012345678901234"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			if got := podshell.PodName(tt.id); got != tt.want || len(got) > 63 {
				t.Errorf("PodName(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

// TestPod checks the workspace pod spec. The exec itself needs a cluster
// that runs containers; the simulated cluster does not, so it is covered
// only by running kubelab with --shell=pod against a real cluster.
func TestPod(t *testing.T) {
	t.Parallel()
	t.Log("exec into the workspace pod is not tested here: the simulated cluster runs no containers")
	pod := podshell.Pod(podshell.Spec{
		ID: "s1", Namespace: "lab-s1", ServiceAccount: "learner",
		Namespaces: map[string]string{"web-app": "lab-s1-web"}, Env: map[string]string{"FOO": "bar"},
	}, "example.com/ws:1")
	if pod.Namespace != "lab-s1" || pod.Spec.ServiceAccountName != "learner" {
		t.Errorf("pod in %s as %s, want lab-s1 as learner", pod.Namespace, pod.Spec.ServiceAccountName)
	}
	c := pod.Spec.Containers[0]
	if c.Image != "example.com/ws:1" {
		t.Errorf("image = %q", c.Image)
	}
	wantEnv := []corev1.EnvVar{
		{Name: "NS", Value: "lab-s1"}, {Name: "TERM", Value: "xterm-256color"},
		{Name: "NS_WEB_APP", Value: "lab-s1-web"}, {Name: "FOO", Value: "bar"}, {Name: "HOME", Value: "/tmp"},
	}
	if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 {
		t.Errorf("container security context = %+v, want no privilege escalation and all capabilities dropped", sc)
	}
	if psc := pod.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod security context = %+v, want runAsNonRoot", psc)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
		t.Errorf("limits = %v, want cpu and memory", c.Resources.Limits)
	}
}
