package grader

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/labs"
)

// TestParseWget reads probe logs as busybox wget and the probe script
// write them: body, token line, standard error.
func TestParseWget(t *testing.T) {
	t.Parallel()
	const tok = "kubelab-probe-0123"
	type result struct {
		Status      int
		Body, Error string
	}
	tests := []struct {
		name, log string
		want      result
	}{
		{"ok", "<h1>Welcome</h1>\n\n" + tok + "\n  HTTP/1.1 200 OK\n  Server: nginx\n  Content-Length: 17\n",
			result{200, "<h1>Welcome</h1>\n", ""}},
		{"body without a newline", "hi\n" + tok + "\n  HTTP/1.0 200 OK\n", result{200, "hi", ""}},
		{"not found", "\n" + tok + "\n  HTTP/1.1 404 Not Found\n  Server: nginx\nwget: server returned error: HTTP/1.1 404 Not Found\n",
			result{404, "", ""}},
		{"redirect", "moved here\n" + tok + "\n  HTTP/1.1 301 Moved Permanently\n  Location: /x/\n  HTTP/1.1 200 OK\n", result{200, "moved here", ""}},
		{"no such host", "\n" + tok + "\nwget: bad address 'nope'\n", result{0, "", "bad address 'nope'"}},
		{"refused", "\n" + tok + "\nwget: can't connect to remote host (10.96.0.5): Connection refused\n",
			result{0, "", "can't connect to remote host (10.96.0.5): Connection refused"}},
		{"timed out", "\n" + tok + "\nTerminated\nwget: no answer within 10s\n", result{0, "", "no answer within 10s"}},
		{"silent", "\n" + tok + "\n\n", result{0, "", "no answer"}},
		{"killed before the end", "<h1>half", result{0, "", "the probe ended without an answer"}},
		{"a body that names a token", "\n" + "kubelab-probe-other\n" + "\n" + tok + "\n  HTTP/1.1 200 OK\n", result{200, "\nkubelab-probe-other\n", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body, errText := parseWget(tt.log, tok)
			if diff := cmp.Diff(tt.want, result{status, body, errText}); diff != "" {
				t.Errorf("parseWget (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseNslookup reads busybox nslookup's output, new and old style.
func TestParseNslookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, out string
		want      []string
		wantErr   string
	}{
		{"found", "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tweb.dev.svc.cluster.local\nAddress: 10.96.12.34\n\n",
			[]string{"10.96.12.34"}, ""},
		{"headless, v4 and v6", "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tdb.default.svc.cluster.local\nAddress: 10.244.0.7\nName:\tdb.default.svc.cluster.local\nAddress: 10.244.0.8\n\n" +
			"Name:\tdb.default.svc.cluster.local\nAddress: fd00::7\n*** Can't find db: No answer\n",
			[]string{"10.244.0.7", "10.244.0.8", "fd00::7"}, ""},
		{"old style", "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\nName:      web\nAddress 1: 10.96.12.34 web.default.svc.cluster.local\n",
			[]string{"10.96.12.34"}, ""},
		{"not found", "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n** server can't find nope.default.svc.cluster.local: NXDOMAIN\n\n** server can't find nope.default.svc.cluster.local: NXDOMAIN\n\n",
			[]string{}, "server can't find nope.default.svc.cluster.local: NXDOMAIN"},
		{"no server", ";; connection timed out; no servers could be reached\n", []string{}, "no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errText := parseNslookup(tt.out)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
			if errText != tt.wantErr {
				t.Errorf("error = %q, want %q", errText, tt.wantErr)
			}
		})
	}
}

// TestProbePod pins what keeps a probe Pod acceptable everywhere: Pod
// Security restricted, inside a ResourceQuota, gone by itself, invisible to
// the grader's reads.
func TestProbePod(t *testing.T) {
	t.Parallel()
	cc, err := compileCheck(labs.Check{Probe: &labs.Probe{HTTP: "http://web/"}})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	pod := probePod("busybox:1.36", cc, "tok")
	got := pod.DeepCopy()
	got.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	f, tr := false, true
	nobody, deadline, zero := int64(65534), int64(25), int64(0)
	want := &corev1.Pod{}
	want.GenerateName = "kubelab-probe-"
	want.Labels = map[string]string{"app.kubernetes.io/managed-by": "kubelab-grader"}
	want.Spec = corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		ActiveDeadlineSeconds:         &deadline,
		TerminationGracePeriodSeconds: &zero,
		AutomountServiceAccountToken:  &f,
		EnableServiceLinks:            &f,
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &tr, RunAsUser: &nobody, RunAsGroup: &nobody,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{
			Name: "probe", Image: "busybox:1.36", ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sh", "-c", wgetScript, "probe", "tok", "10", "http://web/"},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &tr,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		}},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("probe Pod (-want +got):\n%s", diff)
	}
	res := pod.Spec.Containers[0].Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if res.Requests.Name(name, "").IsZero() || res.Limits.Name(name, "").IsZero() {
			t.Errorf("probe Pod %s: requests %v, limits %v; a namespace with a ResourceQuota needs both", name, res.Requests, res.Limits)
		}
	}

	dns, err := compileCheck(labs.Check{Probe: &labs.Probe{DNS: "web.dev.svc.cluster.local"}})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if got, want := probePod("busybox:1.36", dns, "tok").Spec.Containers[0].Command, []string{"nslookup", "web.dev.svc.cluster.local"}; !cmp.Equal(got, want) {
		t.Errorf("dns probe command = %q, want %q", got, want)
	}
	if !strings.Contains(wgetScript, "head -c 65536") || strings.Contains(wgetScript, "-T") {
		t.Errorf("the probe script does not cap the body at 64 KiB, or uses wget -T (it crashes Debian's busybox):\n%s", wgetScript)
	}
}

// TestCapture keeps the first 64 KiB of each stream and of both, and never
// refuses a write (a refused write would stop the command's stream).
func TestCapture(t *testing.T) {
	t.Parallel()
	var c capture
	out, errw := c.writer(&c.stdout), c.writer(&c.stderr)
	for _, w := range []struct {
		w captureWriter
		s string
	}{{out, "hello "}, {errw, "oops "}, {out, strings.Repeat("x", 70<<10)}, {errw, "late"}} {
		if n, err := w.w.Write([]byte(w.s)); n != len(w.s) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(w.s))
		}
	}
	if got := c.all.String(); len(got) != maxOutput || !strings.HasPrefix(got, "hello oops xxx") {
		t.Errorf("all: %d bytes starting %q, want %d starting %q", len(got), got[:14], maxOutput, "hello oops xxx")
	}
	if c.stdout.Len() != maxOutput || c.stderr.String() != "oops late" {
		t.Errorf("stdout %d bytes, stderr %q; want %d and %q", c.stdout.Len(), c.stderr.String(), maxOutput, "oops late")
	}
}

// TestLockActive lets one exec or probe check of a sandbox run at a time,
// across copies of its Target.
func TestLockActive(t *testing.T) {
	t.Parallel()
	target, err := NewTarget(&rest.Config{Host: "https://127.0.0.1:1"}, "learner", nil)
	if err != nil {
		t.Fatalf("NewTarget: %v", err)
	}
	release, err := target.lockActive(t.Context())
	if err != nil {
		t.Fatalf("lockActive: %v", err)
	}
	other := target // as the Check button's copy
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := other.lockActive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lockActive = %v, want it to wait until its context ends", err)
	}
	release()
	release2, err := other.lockActive(t.Context())
	if err != nil {
		t.Fatalf("lockActive after release: %v", err)
	}
	release2()
}
