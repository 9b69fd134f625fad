// Package podshell is the terminal backend for real, multi-node clusters
// (--shell=pod): each learner gets a workspace pod in their own namespace,
// running as their ServiceAccount, and their shell is an exec into it over
// the API server (client-go remotecommand: websocket, SPDY as fallback).
// A Shell satisfies server/terminal's Process, so reconnects and the ring
// buffer work exactly as with the local jail.
package podshell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/utils/ptr"
)

// DefaultImage has bash and kubectl and runs as a non-root user.
const DefaultImage = "docker.io/bitnami/kubectl:1.32"

// Options configures a Backend.
type Options struct {
	// Config is kubelab's own credential: it creates the workspace pods and
	// execs into them. The learner's shell uses only the pod's ServiceAccount.
	Config *rest.Config
	// Image is the workspace image (default DefaultImage); it needs bash
	// (or sh), kubectl and a sleep that accepts "infinity".
	Image string
	// ReadyTimeout bounds the wait for a new pod (default 2 minutes).
	ReadyTimeout time.Duration
	Log          *slog.Logger
}

// Backend starts shells in workspace pods.
type Backend struct {
	opts   Options
	client kubernetes.Interface
	log    *slog.Logger
}

// New returns a Backend using opts.Config.
func New(opts Options) (*Backend, error) {
	if opts.Config == nil {
		return nil, errors.New("podshell: Options.Config is required")
	}
	if opts.Image == "" {
		opts.Image = DefaultImage
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	cs, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("podshell client: %w", err)
	}
	return &Backend{opts: opts, client: cs, log: opts.Log}, nil
}

// Spec is one learner's workspace.
type Spec struct {
	ID             string            // session id; names the pod
	Namespace      string            // the learner's namespace: where the pod runs
	ServiceAccount string            // the learner's ServiceAccount; its token is kubectl's credential
	Namespaces     map[string]string // extra namespaces by logical name → $NS_<LOGICAL>
	Env            map[string]string
}

const podPrefix = "kubelab-workspace-"

// PodName is the workspace pod's name for a session id.
func PodName(id string) string {
	return podPrefix + dnsLabel(id, 63-len(podPrefix))
}

// dnsLabel keeps the characters of s a DNS label allows, at most n of them.
func dnsLabel(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	out := strings.Trim(b.String()[:min(b.Len(), n)], "-")
	if out == "" {
		return "x"
	}
	return out
}

// Pod is the workspace pod for spec: the learner's ServiceAccount, no
// privileges, bounded resources, and a process that just waits for execs.
func Pod(spec Spec, image string) *corev1.Pod {
	env := []corev1.EnvVar{{Name: "NS", Value: spec.Namespace}, {Name: "TERM", Value: "xterm-256color"}}
	for _, k := range slices.Sorted(maps.Keys(spec.Namespaces)) {
		env = append(env, corev1.EnvVar{Name: "NS_" + envName(k), Value: spec.Namespaces[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: spec.Env[k]})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(spec.ID),
			Namespace: spec.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "kubelab",
				"app.kubernetes.io/component":  "workspace",
				"kubelab.io/session":           dnsLabel(spec.ID, 63),
			},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:            spec.ServiceAccount,
			AutomountServiceAccountToken:  ptr.To(true),
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			EnableServiceLinks:            ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](1000),
				RunAsGroup:     ptr.To[int64](1000),
				FSGroup:        ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:       "shell",
				Image:      image,
				Command:    []string{"sleep", "infinity"},
				WorkingDir: "/tmp",
				Env:        append(env, corev1.EnvVar{Name: "HOME", Value: "/tmp"}),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
				},
			}},
		},
	}
}

func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// EnsurePod creates the workspace pod unless it exists and waits until it
// is ready.
func (b *Backend) EnsurePod(ctx context.Context, spec Spec) (*corev1.Pod, error) {
	want := Pod(spec, b.opts.Image)
	pods := b.client.CoreV1().Pods(spec.Namespace)
	_, err := pods.Create(ctx, want, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create workspace pod %s/%s: %w", spec.Namespace, want.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.ReadyTimeout)
	defer cancel()
	var pod *corev1.Pod
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("workspace pod %s ended (%s)", p.Name, p.Status.Phase)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for workspace pod %s/%s: %w", spec.Namespace, want.Name, err)
	}
	return pod, nil
}

// DeletePod removes the workspace pod (when the session ends).
func (b *Backend) DeletePod(ctx context.Context, spec Spec) error {
	err := b.client.CoreV1().Pods(spec.Namespace).Delete(ctx, PodName(spec.ID), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete workspace pod %s: %w", PodName(spec.ID), err)
	}
	return nil
}

// Shell is an interactive shell in the workspace pod. It satisfies
// server/terminal's Process.
type Shell struct {
	stdinW  *io.PipeWriter
	stdoutR *io.PipeReader
	sizes   *sizeQueue
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	once    sync.Once
}

// Shell ensures the workspace pod and execs a login shell in it with a
// TTY. The shell lives until it exits, Close, or ctx ends.
func (b *Backend) Shell(ctx context.Context, spec Spec) (*Shell, error) {
	pod, err := b.EnsurePod(ctx, spec)
	if err != nil {
		return nil, err
	}
	req := b.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: "shell",
		Command:   []string{"/bin/sh", "-c", "command -v bash >/dev/null && exec bash -l || exec sh -l"},
		Stdin:     true, Stdout: true, TTY: true,
	}, scheme.ParameterCodec)
	wsExec, err := remotecommand.NewWebSocketExecutor(b.opts.Config, "GET", req.URL().String())
	if err != nil {
		return nil, fmt.Errorf("websocket executor: %w", err)
	}
	spdyExec, err := remotecommand.NewSPDYExecutor(b.opts.Config, "POST", req.URL())
	if err != nil {
		return nil, fmt.Errorf("spdy executor: %w", err)
	}
	exec, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("exec into %s: %w", pod.Name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	s := &Shell{stdinW: stdinW, stdoutR: stdoutR, sizes: newSizeQueue(), cancel: cancel, done: make(chan struct{})}
	s.sizes.push(80, 24)
	go func() {
		s.err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{
			Stdin: stdinR, Stdout: stdoutW, Tty: true, TerminalSizeQueue: s.sizes,
		})
		stdoutW.CloseWithError(io.EOF)
		stdinR.Close()
		s.sizes.close()
		close(s.done)
	}()
	b.log.Info("workspace shell started", "pod", pod.Name, "namespace", pod.Namespace)
	return s, nil
}

// Read returns the shell's output.
func (s *Shell) Read(p []byte) (int, error) { return s.stdoutR.Read(p) }

// Write types into the shell.
func (s *Shell) Write(p []byte) (int, error) { return s.stdinW.Write(p) }

// Resize sends the new window size to the pod's TTY.
func (s *Shell) Resize(cols, rows uint16) error {
	s.sizes.push(cols, rows)
	return nil
}

// Close ends the exec; the pod stays for the next shell.
func (s *Shell) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.stdinW.Close()
		s.stdoutR.Close()
	})
	return nil
}

// Wait blocks until the exec has ended.
func (s *Shell) Wait() error {
	<-s.done
	return s.err
}

// sizeQueue hands the latest window size to remotecommand; older sizes
// that were not picked up yet are dropped.
type sizeQueue struct {
	ch   chan remotecommand.TerminalSize
	stop chan struct{}
	once sync.Once
}

func newSizeQueue() *sizeQueue {
	return &sizeQueue{ch: make(chan remotecommand.TerminalSize, 1), stop: make(chan struct{})}
}

func (q *sizeQueue) push(cols, rows uint16) {
	sz := remotecommand.TerminalSize{Width: cols, Height: rows}
	for {
		select {
		case q.ch <- sz:
			return
		default:
		}
		select {
		case <-q.ch: // drop the stale size
		default:
		}
	}
}

// Next blocks until a new size or the end of the shell (nil).
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case sz := <-q.ch:
		return &sz
	case <-q.stop:
		return nil
	}
}

func (q *sizeQueue) close() { q.once.Do(func() { close(q.stop) }) }
