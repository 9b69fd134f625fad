package grader

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/common/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/utils/ptr"
)

// maxOutput caps what an exec check keeps of each stream and what a probe
// keeps of a body: enough for any page or file a lesson looks at, and a
// runaway command cannot fill kubelab's memory.
const maxOutput = 64 << 10

// podsGVR is what exec checks read their Pods from (the API or, live, the
// informer that watches Pods for them).
var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// evalActive runs an exec or probe check. What keeps the check from running
// in the learner's sandbox (no such Pod, a Pod not running yet, a command
// that does not finish) fails the check with a Detail; only what says
// nothing about the learner (the API not answering) is an Error.
func (p *Program) evalActive(ctx context.Context, t Target, src source, cc *compiledCheck) CheckResult {
	res := CheckResult{Message: cc.spec.Message}
	if t.Kube == nil || t.Config == nil {
		return evalError(ctx, res, errors.New("the target has no client to run exec and probe checks"))
	}
	release, err := t.lockActive(ctx)
	if err != nil {
		return evalError(ctx, res, err)
	}
	defer release()
	var o outcome
	if cc.source == fromExec {
		o, err = runExec(ctx, t, src, cc)
	} else {
		o, err = p.runProbe(ctx, t, cc)
	}
	if err != nil {
		return evalError(ctx, res, err)
	}
	if o.notRun != "" {
		res.Detail = o.notRun
		return res
	}
	ok, actual, err := cc.evalVars(ctx, o.vars, o.fallback)
	if err != nil {
		return evalError(ctx, res, err)
	}
	res.Passed = ok
	if !ok {
		res.Detail = fmt.Sprintf("expected: %s; actual: %s", cc.expectText, actual)
		if e, _ := o.vars["error"].(string); e != "" {
			res.Detail += "; error: " + e
		}
	}
	return res
}

// outcome is what an exec or a probe gave: the CEL variables, or why it
// could not run (for the learner).
type outcome struct {
	vars     map[string]any
	fallback func() string // the actual side when the check has none
	notRun   string
}

func notRun(format string, args ...any) (outcome, error) {
	return outcome{notRun: fmt.Sprintf(format, args...)}, nil
}

// runExec runs the check's command in the learner's container.
func runExec(ctx context.Context, t Target, src source, cc *compiledCheck) (outcome, error) {
	e := cc.spec.Exec
	ns, err := t.namespace(e.Namespace)
	if err != nil {
		return outcome{}, err
	}
	pod, why, err := pickPod(ctx, src, ns, e.Pod, cc.sel)
	switch {
	case err != nil:
		return outcome{}, err
	case why != "":
		return outcome{notRun: why}, nil
	}
	container := e.Container
	if container == "" {
		container = pod.Spec.Containers[0].Name
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == container }) {
		return notRun("Pod %q has no container %q", pod.Name, container)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == container && cs.State.Running == nil {
			return notRun("container %q of Pod %q is not running (%s)", container, pod.Name, containerState(cs.State))
		}
	}

	req := t.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod.Name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: container, Command: e.Command, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	exec, err := newExecutor(t.Config, req.URL())
	if err != nil {
		return outcome{}, fmt.Errorf("exec in Pod %s/%s: %w", ns, pod.Name, err)
	}
	ectx, cancel := context.WithTimeout(ctx, cc.timeout)
	defer cancel()
	var out capture
	err = exec.StreamWithContext(ectx, remotecommand.StreamOptions{Stdout: out.writer(&out.stdout), Stderr: out.writer(&out.stderr)})
	exitCode := 0
	var exitErr utilexec.ExitError
	command := strings.Join(e.Command, " ")
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exitCode = exitErr.ExitStatus()
	case ctx.Err() != nil:
		return outcome{}, fmt.Errorf("exec in Pod %s/%s: %w", ns, pod.Name, err)
	case ectx.Err() != nil:
		return notRun("%s in Pod %q did not finish within %s", command, pod.Name, cc.timeout)
	case isNetworkError(err):
		return outcome{}, fmt.Errorf("exec in Pod %s/%s: %w", ns, pod.Name, err)
	default:
		return notRun("could not run %s in Pod %q: %v", command, pod.Name, err)
	}
	output := out.all.String()
	return outcome{
		vars: map[string]any{
			"output":   output,
			"stdout":   out.stdout.String(),
			"stderr":   out.stderr.String(),
			"exitCode": int64(exitCode),
		},
		fallback: func() string { return formatString(output) },
	}, nil
}

// newExecutor streams over a websocket and falls back to SPDY for API
// servers that do not speak it, as kubectl does.
func newExecutor(cfg *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return nil, fmt.Errorf("websocket executor: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		return nil, fmt.Errorf("spdy executor: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// isNetworkError tells a connection that failed (kubelab cannot reach the
// API) from an API that refused the exec.
func isNetworkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// pickPod finds the Pod an exec check runs in: the named one, or the first
// Running one (by name) the selector matches. why says, for the learner,
// why there is none.
func pickPod(ctx context.Context, src source, ns, name string, sel labels.Selector) (pod *corev1.Pod, why string, err error) {
	if name != "" {
		obj, err := src.get(ctx, podsGVR, ns, name)
		switch {
		case err != nil:
			return nil, "", err
		case obj == nil:
			return nil, fmt.Sprintf("no Pod %q in namespace %s", name, ns), nil
		}
		pod, err := toPod(obj)
		if err != nil {
			return nil, "", err
		}
		if pod.Status.Phase != corev1.PodRunning {
			return nil, fmt.Sprintf("Pod %q is %s (phase %s)", name, notRunning(pod.Status.Phase), pod.Status.Phase), nil
		}
		return pod, "", nil
	}
	objs, err := src.list(ctx, podsGVR, ns, sel)
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	var first *corev1.Pod
	for _, obj := range objs {
		pod, err := toPod(obj)
		if err != nil {
			return nil, "", err
		}
		if pod.Status.Phase == corev1.PodRunning {
			return pod, "", nil
		}
		if first == nil {
			first = pod
		}
	}
	if first == nil {
		return nil, fmt.Sprintf("no Pod matching %q in namespace %s", sel.String(), ns), nil
	}
	return nil, fmt.Sprintf("no Pod matching %q in namespace %s is running (Pod %q is %s, phase %s)",
		sel.String(), ns, first.Name, notRunning(first.Status.Phase), first.Status.Phase), nil
}

// notRunning words a phase other than Running.
func notRunning(phase corev1.PodPhase) string {
	if phase == corev1.PodPending || phase == "" {
		return "not running yet"
	}
	return "not running"
}

func toPod(obj *unstructured.Unstructured) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &pod); err != nil {
		return nil, fmt.Errorf("read Pod %s: %w", obj.GetName(), err)
	}
	return &pod, nil
}

// containerState words a container state for a detail.
func containerState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil && s.Waiting.Reason != "":
		return "waiting: " + s.Waiting.Reason
	case s.Terminated != nil && s.Terminated.Reason != "":
		return "terminated: " + s.Terminated.Reason
	case s.Terminated != nil:
		return fmt.Sprintf("terminated with exit code %d", s.Terminated.ExitCode)
	}
	return "waiting"
}

// capture keeps the first maxOutput bytes of stdout, of stderr, and of both
// in the order they arrived (remotecommand copies each stream in its own
// goroutine). What is beyond is read and dropped, so the command never
// blocks on a full pipe.
type capture struct {
	mu                  sync.Mutex
	all, stdout, stderr bytes.Buffer
}

type captureWriter struct {
	c   *capture
	own *bytes.Buffer
}

func (c *capture) writer(own *bytes.Buffer) captureWriter { return captureWriter{c, own} }

func (w captureWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	for _, b := range []*bytes.Buffer{w.own, &w.c.all} {
		b.Write(p[:min(len(p), maxOutput-b.Len())])
	}
	return len(p), nil
}

// formatString renders a string for a detail, shortened like other values.
func formatString(s string) string {
	return formatValue(types.String(s))
}

// probeGrace is how long the kubelet lets a probe Pod outlive its probe
// before it kills it: a safety net, since the grader deletes it anyway.
const probeGrace = 5 * time.Second

// runProbe runs the check's probe from a short-lived Pod in the sandbox and
// deletes the Pod, whatever happens.
func (p *Program) runProbe(ctx context.Context, t Target, cc *compiledCheck) (outcome, error) {
	pr := cc.spec.Probe
	ns, err := t.namespace(pr.Namespace)
	if err != nil {
		return outcome{}, err
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:]) // never fails
	token := "kubelab-probe-" + hex.EncodeToString(tok[:])
	pods := t.Kube.CoreV1().Pods(ns)
	pod, err := pods.Create(ctx, probePod(p.probeImage(), cc, token), metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota") {
			return notRun("no room for the probe Pod in namespace %s: %v", ns, err)
		}
		return outcome{}, fmt.Errorf("create probe Pod in %s: %w", ns, err)
	}
	defer deleteProbe(ctx, pods, pod.Name)

	pctx, cancel := context.WithTimeout(ctx, cc.timeout)
	defer cancel()
	done, err := waitProbe(pctx, pods, pod.Name)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return outcome{}, fmt.Errorf("probe Pod %s/%s: %w", ns, pod.Name, err)
	case pctx.Err() != nil && done != nil && done.Status.Phase == corev1.PodPending:
		return notRun("the probe Pod did not start within %s (phase Pending)", cc.timeout)
	case pctx.Err() != nil:
		return notRun("the probe did not finish within %s", cc.timeout)
	default:
		return outcome{}, err
	}
	raw, err := pods.GetLogs(pod.Name, &corev1.PodLogOptions{Container: "probe", LimitBytes: ptr.To[int64](2 * maxOutput)}).Do(ctx).Raw()
	if err != nil {
		return outcome{}, fmt.Errorf("read the log of probe Pod %s/%s: %w", ns, pod.Name, err)
	}
	if cc.source == fromDNS {
		addrs, errText := parseNslookup(string(raw))
		return outcome{
			vars:     map[string]any{"addresses": addrs, "error": errText},
			fallback: func() string { return formatValue(types.DefaultTypeAdapter.NativeToValue(addrs)) },
		}, nil
	}
	status, body, errText := parseWget(string(raw), token)
	return outcome{
		vars: map[string]any{"status": int64(status), "body": body, "error": errText},
		fallback: func() string {
			return fmt.Sprintf("status %d, body %s", status, formatString(body))
		},
	}, nil
}

// wgetScript prints the body (cut to maxOutput), then a line with the
// token, then wget's standard error: its -S response headers and messages.
// The log interleaves a container's streams, so the body and the headers
// must come one after the other on one stream. busybox timeout bounds wget
// (exit 143 when it had to stop it): the Debian busybox kind-up preloads
// crashes on wget -T. Arguments: token, timeout in seconds, URL.
var wgetScript = `exec 3>&1
err=$( { { timeout "$2" wget -S -q -O- "$3"; [ $? != 143 ] || echo "wget: no answer within ${2}s" >&2; } | head -c ` +
	strconv.Itoa(maxOutput) + ` >&3; } 2>&1 )
printf '\n%s\n%s\n' "$1" "$err"`

// probePod is the Pod that runs one probe: restricted by Pod Security
// (kubelab's namespaces warn about anything less), small enough for the
// sandbox's quota, gone by itself if kubelab cannot delete it.
func probePod(image string, cc *compiledCheck, token string) *corev1.Pod {
	secs := int64(cc.timeout / time.Second)
	var command []string
	if cc.source == fromDNS {
		command = []string{"nslookup", cc.spec.Probe.DNS}
	} else {
		// wget's own timeout leaves time for the Pod to start within the
		// probe's.
		command = []string{"sh", "-c", wgetScript, "probe", token, strconv.FormatInt(max(secs/2, 1), 10), cc.spec.Probe.HTTP}
	}
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kubelab-probe-",
			Labels:       map[string]string{managedByLabel: managedByGrader},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         ptr.To(secs + int64(probeGrace/time.Second)),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65534),
				RunAsGroup:     ptr.To[int64](65534),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "probe",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         command,
				Resources: corev1.ResourceRequirements{
					Requests: small,
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// waitProbe waits for the probe Pod to end; it returns the Pod as last
// seen. An image that cannot be pulled is kubelab's problem, not the
// learner's: an error.
func waitProbe(ctx context.Context, pods typedcorev1.PodInterface, name string) (*corev1.Pod, error) {
	var last *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get probe Pod %s: %w", name, err)
		}
		last = pod
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return true, nil
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "InvalidImageName") {
				return false, fmt.Errorf("probe image %s: %s: %s", cs.Image, w.Reason, w.Message)
			}
		}
		return false, nil
	})
	return last, err
}

// deleteProbe deletes a probe Pod at once, also when the check's context
// has ended (a cancelled Watch, a timeout).
func deleteProbe(ctx context.Context, pods typedcorev1.PodInterface, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// A failed delete leaves the Pod to its activeDeadlineSeconds, and the
	// grader's reads never count it.
	_ = pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
}

// parseWget reads a probe Pod's log: body, token line, wget's standard
// error. status is the last response line of -S (redirects come first);
// busybox wget exits 1 on a 404 but still printed it. errText is empty once
// an HTTP answer came.
func parseWget(log, token string) (status int, body, errText string) {
	marker := "\n" + token + "\n"
	i := strings.LastIndex(log, marker)
	if i < 0 {
		return 0, "", "the probe ended without an answer"
	}
	body, stderr := log[:i], log[i+len(marker):]
	var msgs []string
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
			if code, err := strconv.Atoi(f[1]); err == nil {
				status = code
			}
		} else if m, ok := strings.CutPrefix(line, "wget: "); ok {
			msgs = append(msgs, m)
		}
	}
	if status != 0 {
		return status, body, ""
	}
	if len(msgs) == 0 {
		msgs = []string{"no answer"}
	}
	return 0, body, strings.Join(msgs, "; ")
}

// parseNslookup reads busybox nslookup's output: the addresses after the
// first "Name:" line (the ones before are the DNS server's own), or what
// it said when it found none.
func parseNslookup(out string) (addrs []string, errText string) {
	addrs = []string{}
	var msgs []string
	answers := false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Name:"):
			answers = true
		case answers && strings.HasPrefix(line, "Address"):
			// "Address: 10.96.0.1" or, from older busybox, "Address 1: 10.96.0.1 name".
			_, rest, _ := strings.Cut(line, ":")
			if f := strings.Fields(rest); len(f) > 0 && net.ParseIP(f[0]) != nil && !slices.Contains(addrs, f[0]) {
				addrs = append(addrs, f[0])
			}
		case strings.HasPrefix(line, "*") || strings.HasPrefix(line, "nslookup:"):
			// Busybox asks for A and AAAA records: the same message twice.
			if m := strings.TrimSpace(strings.TrimLeft(line, "*")); !slices.Contains(msgs, m) {
				msgs = append(msgs, m)
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, ""
	}
	if len(msgs) == 0 {
		msgs = []string{"no address"}
	}
	return addrs, strings.Join(msgs, "; ")
}
