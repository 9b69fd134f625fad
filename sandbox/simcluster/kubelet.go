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
)

// execRefusal is what `kubectl exec`, attach and port-forward print.
const execRefusal = "kubelab simulated cluster: no container really runs here, so exec, attach and port-forward are not available"

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
	for _, p := range []string{"/exec/", "/attach/", "/portForward/", "/run/", "/cri/"} {
		mux.HandleFunc(p, refuse)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	return &kubeletServer{ln: tls.NewListener(ln, srv.TLSConfig), srv: srv}, nil
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
