package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubelab/kubelab/sandbox"
)

// The kubeconfig a learner downloads names kubelab's public URL, not the
// sandbox's API server (which listens on the kubelab host's loopback or a
// Docker network). kubelab proxies /kube/{session}.{mac}/… to the session's
// API server with the learner's own sandbox credentials, never an admin's
// (/kube/{session}.{mac}.{cluster}/… to a further cluster of the learner's).
// The mac is an HMAC of the session and its owner under a key kept in the
// database: it works across restarts, for that session only, and stops
// when the session ends. It is in the server URL, not a bearer token,
// because kubectl sends no credentials to an http:// server, and kubelab
// may well be served over plain HTTP on a laptop or a classroom network.

const (
	kubeProxyRoute   = "/kube/:key/*"
	kubeSecretName   = "kubeconfig-proxy"
	maxKubeProxyBody = 3 << 20 // the API server's own limit for a request body
)

// kubeKey returns the key that signs kubeconfig tokens, made on first use.
type kubeKey struct {
	mu  sync.Mutex
	key []byte
}

func (s *Server) kubeconfigKey(c echo.Context) ([]byte, error) {
	s.kubeKey.mu.Lock()
	defer s.kubeKey.mu.Unlock()
	if s.kubeKey.key == nil {
		key, err := s.store.Secret(c.Request().Context(), kubeSecretName, []byte(rand.Text()+rand.Text()))
		if err != nil {
			return nil, err
		}
		s.kubeKey.key = key
	}
	return s.kubeKey.key, nil
}

// kubeMAC proves that a kubeconfig was downloaded by session ss's owner.
func kubeMAC(key []byte, ss sandbox.Session) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kubeconfig\x00" + ss.ID + "\x00" + ss.Owner))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// kubeconfig answers a kubeconfig for the caller's ready session that
// reaches its sandbox through kubelab's URL.
func (s *Server) kubeconfig(c echo.Context) error {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return err
	}
	sb, err := s.readySandbox(c.Request().Context(), ss)
	if err != nil {
		return err
	}
	key, err := s.kubeconfigKey(c)
	if err != nil {
		return err
	}
	// One context per cluster: the first named after the chapter, each
	// further one by its name, as in the learner's shell.
	server := s.publicBase(c) + "/kube/" + url.PathEscape(ss.ID) + "." + kubeMAC(key, ss)
	kc := clientcmdapi.NewConfig()
	add := func(name, server, namespace string) {
		kc.Clusters[name] = &clientcmdapi.Cluster{Server: server}
		kc.AuthInfos[name] = &clientcmdapi.AuthInfo{}
		kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: namespace}
	}
	add(ss.Chapter, server, sb.Namespace)
	for _, o := range sb.Others {
		add(o.Name, server+"."+o.Name, "default")
	}
	kc.CurrentContext = ss.Chapter
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("write kubeconfig of %s: %w", ss.ID, err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="kubelab-%s.kubeconfig"`, ss.Chapter))
	return c.Blob(http.StatusOK, "application/yaml", b)
}

// publicBase is the URL a learner's own machine reaches kubelab at:
// --public-url, else what this request was sent to.
func (s *Server) publicBase(c echo.Context) string {
	if s.public != nil {
		return strings.TrimSuffix(s.public.String(), "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// kubeStatus answers as the Kubernetes API does, so kubectl prints message.
func kubeStatus(c echo.Context, code int, reason, message string) error {
	return c.JSON(code, map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	})
}

// kubeProxy forwards a kubectl request to the session's API server.
func (s *Server) kubeProxy(c echo.Context) error {
	// key is session.mac, or session.mac.cluster for a further cluster.
	id, proof, _ := strings.Cut(c.Param("key"), ".")
	mac, cluster, _ := strings.Cut(proof, ".")
	ss, err := s.sandboxes.Session(c.Request().Context(), id)
	if errors.Is(err, sandbox.ErrNotFound) {
		return kubeStatus(c, http.StatusUnauthorized, "Unauthorized", "This kubeconfig's lab no longer exists. Start the lab again and download a new kubeconfig.")
	}
	if err != nil {
		return err
	}
	key, err := s.kubeconfigKey(c)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(mac), []byte(kubeMAC(key, ss))) {
		return kubeStatus(c, http.StatusUnauthorized, "Unauthorized", "This kubeconfig is not this lab's. Download it again from the lab's page.")
	}
	if ss.Status != sandbox.StatusReady {
		return kubeStatus(c, http.StatusServiceUnavailable, "ServiceUnavailable", "This lab is not running. Start it on its page, then try again.")
	}
	sb, err := s.sandboxes.Sandbox(c.Request().Context(), ss.ID)
	if err != nil {
		return kubeStatus(c, http.StatusServiceUnavailable, "ServiceUnavailable", "This lab is not running. Start it on its page, then try again.")
	}
	cfg := sb.Config
	if cluster != "" {
		cfg = nil
		for _, o := range sb.Others {
			if o.Name == cluster {
				cfg = o.Config
			}
		}
		if cfg == nil {
			return kubeStatus(c, http.StatusNotFound, "NotFound", "This lab has no cluster of that name. Download the kubeconfig again from the lab's page.")
		}
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return fmt.Errorf("proxy to %s: %w", ss.ID, err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return fmt.Errorf("proxy to %s: %w", ss.ID, err)
	}
	s.sandboxes.Touch(c.Request().Context(), ss.ID)
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxKubeProxyBody)
	path := "/" + c.Param("*")
	proxy := &httputil.ReverseProxy{
		Transport: rt,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath = strings.TrimSuffix(target.Path, "/")+path, ""
			pr.Out.Host = target.Host
			// The sandbox's credentials are the only ones; kubelab's
			// cookies never reach a learner's cluster.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("kubeconfig proxy", "session_id", ss.ID, "err", err)
			_ = kubeStatus(c, http.StatusBadGateway, "ServiceUnavailable", "kubelab could not reach this lab's cluster. Try again in a moment.")
		},
	}
	proxy.ServeHTTP(c.Response(), c.Request())
	return nil
}
