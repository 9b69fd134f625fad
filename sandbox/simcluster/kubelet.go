package simcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// execRefusal is what `kubectl exec`, attach and port-forward print.
const execRefusal = "this is kubelab's simulated cluster: no container runs here, so there is nothing to exec into, attach to, copy from or forward ports to; " +
	"kubectl describe and kubectl get -o yaml show what the cluster knows, and chapters that need running containers use real ones (kind)"

// kubeletServer stands in for every node's kubelet API (the API server
// reaches it at the node's InternalIP 127.0.0.1 and daemonEndpoints port). It
// serves the canned container log and refuses exec/attach/port-forward: it
// never runs anything on the host.
type kubeletServer struct {
	ln  net.Listener
	srv *http.Server
}

func (c *Cluster) newKubeletServer() (*kubeletServer, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.crt("kwok-serving"), c.pki.key("kwok-serving"))
	if err != nil {
		return nil, fmt.Errorf("kubelet server certificate: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(c.state.KwokPort))
	if err != nil {
		return nil, fmt.Errorf("kubelet server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for line := range strings.Lines(cannedLog) {
			// CRI format "<time> <stream> <tag> <msg>": kubectl wants only msg.
			if f := strings.SplitN(line, " ", 4); len(f) == 4 {
				_, _ = w.Write([]byte(f[3]))
			}
		}
	})
	refuse := func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, execRefusal, http.StatusForbidden)
	}
	for _, p := range []string{"/exec/", "/portForward/", "/run/", "/cri/"} {
		mux.HandleFunc(p, refuse)
	}
	cs, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return nil, fmt.Errorf("kubelet server client: %w", err)
	}
	mux.HandleFunc("/attach/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		finishAttached(r.Context(), cs, r.PathValue("ns"), r.PathValue("pod"))
		refuse(w, r)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	return &kubeletServer{ln: tls.NewListener(ln, srv.TLSConfig), srv: srv}, nil
}

// finishAttached ends a Pod that is not restarted (restartPolicy Never or
// OnFailure) as soon as someone attaches to it, as if its command had run
// and exited 0: `kubectl run -it --rm --restart=Never` falls back to the
// logs when attach is refused and then waits for the Pod to end before
// deleting it, which on this cluster would be forever.
func finishAttached(ctx context.Context, cs kubernetes.Interface, ns, name string) {
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Status.Phase != corev1.PodRunning {
		return
	}
	now := metav1.Now()
	for i, st := range pod.Status.ContainerStatuses {
		started := now
		if st.State.Running != nil {
			started = st.State.Running.StartedAt
		}
		pod.Status.ContainerStatuses[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: now}}
		pod.Status.ContainerStatuses[i].Ready = false
		pod.Status.ContainerStatuses[i].Started = new(false)
	}
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			pod.Status.Conditions[i].Status = corev1.ConditionFalse
			pod.Status.Conditions[i].Reason = "PodCompleted"
			pod.Status.Conditions[i].LastTransitionTime = now
		}
	}
	pod.Status.Phase = corev1.PodSucceeded
	_, _ = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}) // a race with a delete is fine
}

func (k *kubeletServer) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- k.srv.Serve(k.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := k.srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
