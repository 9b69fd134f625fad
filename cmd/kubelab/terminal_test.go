package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/internal/sysdeps"
	"github.com/kubelab/kubelab/sandbox/simcluster"
)

// TestServeLearnerTerminal drives the production wiring end to end: a guest
// starts a chapter on `kubelab serve`, opens the terminal websocket, and the
// jailed kubectl reaches the sandbox with the learner's own, renewable
// credential — and nothing beyond it.
func TestServeLearnerTerminal(t *testing.T) {
	t.Parallel()
	ss, term := guestTerminal(t, "pods")
	// Each probe prints a marker built by the shell, so the echoed command
	// line never matches it.
	term.run(`kubectl create configmap probe && kubectl get configmap probe -o jsonpath='{.metadata.namespace}{"\n"}' && echo own-$((40+2))`)
	term.waitFor(ss.Sandbox.Namespace+"\r\nown-42", 30*time.Second)
	term.run(`kubectl get pods -n kube-system 2>&1 | grep -q Forbidden && echo forbidden-$((40+3))`)
	term.waitFor("forbidden-43", 30*time.Second)
	// The credential is a renewable file, not a token pasted in the kubeconfig.
	term.run(`grep -c 'tokenFile: /run/kubelab/token' ~/.kube/config; grep -c 'token: ' ~/.kube/config; echo cfg-$((40+4))`)
	term.waitFor("1\r\n0\r\ncfg-44", 30*time.Second)
	// kubectl is kubelab's own, of the embedded cluster's release: no skew
	// warning, whatever the host has; completion works for kubectl and k.
	term.run(`command -v kubectl; kubectl version >v 2>&1; grep -c -e 'Client Version: ` + simcluster.KubernetesVersion + `' -e 'Server Version: ` +
		simcluster.KubernetesVersion + `' v; grep -c WARNING v; complete -p kubectl k | grep -c __start_kubectl; echo ver-$((40+5))`)
	term.waitFor("/opt/kubelab/bin/kubectl\r\n2\r\n0\r\n2\r\nver-45", 30*time.Second)
	// A Pod is created without a Pod Security warning burying the line.
	term.run(`kubectl run web --image=nginx:1.27 >o 2>&1; grep -c 'pod/web created' o; grep -ci warning o; echo psa-$((40+6))`)
	term.waitFor("1\r\n0\r\npsa-46", 30*time.Second)
	// exec, cp and port-forward say in one sentence why they cannot work
	// here, never a Forbidden naming the learner's ServiceAccount.
	term.run(`kubectl wait --for=condition=Ready pod/web >/dev/null; for c in "exec web -- true" "cp web:/etc/hostname h" "port-forward pod/web 8081:80"; do ` +
		`timeout 20 kubectl $c >o 2>&1; grep -c 'no container runs here' o; grep -c -e Forbidden -e serviceaccount o; done; echo sim-$((40+7))`)
	term.waitFor("1\r\n0\r\n1\r\n0\r\n1\r\n0\r\nsim-47", 90*time.Second)
	// The exam idiom for a one-off command neither hangs nor leaves its Pod.
	term.run(`timeout 60 kubectl run tmp -it --rm --restart=Never --image=busybox:1.36 -- wget -qO- web </dev/null >o 2>&1; echo "rc=$?"; ` +
		`grep -c 'no container runs here' o; kubectl get pod tmp 2>&1 | grep -c NotFound; echo rm-$((40+8))`)
	term.waitFor("rc=0\r\n1\r\n1\r\nrm-48", 90*time.Second)
}

// guestTerminal starts kubelab, and on it a guest's session of chapter
// with its terminal open.
func guestTerminal(t *testing.T, chapter string) (chapterSession, *termConn) {
	t.Helper()
	p := startKubelab(t, t.TempDir())
	c := newAPIClient(t, p.url)
	if code, body := c.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	ss := startChapter(t, c, chapter, 60*time.Second)
	return ss, openTerminal(t, p, c, ss.ID)
}

// chapterSession is the API's view of a chapter session.
type chapterSession struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Sandbox struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Simulated bool   `json:"simulated"`
	} `json:"sandbox"`
}

// startChapter starts a chapter session as the page does and waits until
// its sandbox is ready.
func startChapter(t *testing.T, c *apiClient, chapter string, within time.Duration) chapterSession {
	t.Helper()
	var ss chapterSession
	_, body := c.do("POST", "/api/v1/chapters/"+chapter+"/session")
	for deadline := time.Now().Add(within); ss.Status != "ready"; {
		if err := json.Unmarshal(body, &ss); err != nil || ss.ID == "" {
			t.Fatalf("session: %s", body)
		}
		if ss.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("session not ready after %v: %s", within, body)
		}
		time.Sleep(50 * time.Millisecond)
		_, body = c.do("GET", "/api/v1/sessions/"+ss.ID)
	}
	return ss
}

// termConn is a learner's terminal websocket, read into a buffer.
type termConn struct {
	t   *testing.T
	ws  *websocket.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func openTerminal(t *testing.T, p *kubelabProc, c *apiClient, sessionID string) *termConn {
	t.Helper()
	header := http.Header{"Origin": {p.url}}
	for _, ck := range c.jar.Cookies(mustParseURL(t, p.url)) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws, res, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(p.url, "http")+"/api/v1/sessions/"+sessionID+"/terminal", header)
	if err != nil {
		t.Fatalf("terminal: %v (%v)\n%s", err, res, p.output())
	}
	term := &termConn{t: t, ws: ws}
	var wg sync.WaitGroup
	t.Cleanup(func() { ws.Close(); wg.Wait() })
	if err := ws.WriteJSON(map[string]any{"type": "hello", "offset": 0}); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.BinaryMessage {
				term.mu.Lock()
				term.out.Write(data)
				term.mu.Unlock()
			}
		}
	})
	return term
}

// run types a command line and Enter.
func (term *termConn) run(line string) {
	term.t.Helper()
	if err := term.ws.WriteMessage(websocket.BinaryMessage, []byte(line+"\r")); err != nil {
		term.t.Fatal(err)
	}
}

// shellPrompt ends the learner's prompt (its colour reset, then "$ ").
const shellPrompt = "\x1b[0m $ "

// waitFor waits until the terminal has printed want.
func (term *termConn) waitFor(want string, within time.Duration) {
	term.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		term.mu.Lock()
		got := term.out.String()
		term.mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("the terminal never printed %q; it printed:\n%s", want, term.out.String())
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// apiClient calls a kubelab's HTTP API as a browser would: with its cookies
// and its Origin.
type apiClient struct {
	t    *testing.T
	base string
	jar  *cookiejar.Jar
	http *http.Client
}

func newAPIClient(t *testing.T, base string) *apiClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, base: base, jar: jar, http: &http.Client{Jar: jar}}
}

func (c *apiClient) do(method, path string) (int, []byte) {
	c.t.Helper()
	return c.doCtx(c.t.Context(), method, path)
}

// doCtx is do with its own context, for cleanups, which run after the
// test's context is cancelled.
func (c *apiClient) doCtx(ctx context.Context, method, path string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Origin", c.base)
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestServeHelm: the learner's shell has helm, version-matched to kubectl,
// with kubelab's chart repository configured: search, install, upgrade,
// history, rollback and uninstall work in a namespace sandbox, as the
// learner, offline.
func TestServeHelm(t *testing.T) {
	t.Parallel()
	_, term := guestTerminal(t, "replicasets")
	replicas := `kubectl get deployment web -o jsonpath='{.spec.replicas}'; echo`
	term.run(`command -v helm; helm search repo kubelab | grep -c '^kubelab/'; ` +
		`helm install web kubelab/web --set replicaCount=2 --wait --timeout 60s >/dev/null 2>&1 && ` + replicas + `; echo inst-$((40+1))`)
	term.waitFor("/opt/kubelab/bin/helm\r\n2\r\n2\r\ninst-41", 90*time.Second)
	term.run(`helm upgrade web kubelab/web --set replicaCount=3 >/dev/null 2>&1 && ` + replicas + `; helm history web --max 5 | grep -c -e superseded -e deployed; ` +
		`helm rollback web 1 >/dev/null 2>&1 && ` + replicas + `; helm list -q; echo up-$((40+2))`)
	term.waitFor("3\r\n2\r\n2\r\nweb\r\nup-42", 90*time.Second)
	term.run(`helm uninstall web >/dev/null && kubectl get deployment web 2>&1 | grep -c NotFound; echo gone-$((40+3))`)
	term.waitFor("1\r\ngone-43", 60*time.Second)
}

// TestServeToolbox: the learner's shell has the toolbox the README lists,
// and k9s (built from Go's module proxy by scripts/test, as `kubelab
// toolbox` does) runs in the jail with the learner's kubeconfig and shows
// the learner's own Pods. A machine without them fails here: the README
// promises them.
func TestServeToolbox(t *testing.T) {
	t.Parallel()
	_, term := guestTerminal(t, "pods")
	term.run(`for c in jq yq vim nano less watch curl git k9s kns kctx; do type "$c" >/dev/null 2>&1 || echo "lack""ing: $c"; done; echo tools-$((40+1))`)
	term.waitFor("tools-41", 30*time.Second)
	term.mu.Lock()
	out := term.out.String()
	term.mu.Unlock()
	if strings.Contains(out, "lacking: ") {
		t.Fatalf("the shell lacks tools the README lists (scripts/test runs `kubelab toolbox` first):\n%s", out)
	}
	term.run(`k9s version -s | grep -c '^Version *` + sysdeps.K9s.Version + `'; kubectl run "k9s-$((100+23))" --image=nginx:1.27 >/dev/null; echo pod-$((40+2))`)
	term.waitFor("1\r\npod-42", 30*time.Second)
	// k9s draws its screen into the same terminal a learner sees; its Pods
	// view lists the Pod made above (k9s-123: only k9s prints that name)
	// from the learner's own namespace.
	term.run(`k9s --headless --readonly --command pods`)
	term.waitFor("k9s-123", 60*time.Second)
	term.run(":q")                              // k9s's command to quit
	term.waitFor("\x1b[?1049l", 30*time.Second) // it leaves the alternate screen
	term.run(`echo back-$((40+3))`)
	term.waitFor("back-43", 30*time.Second)
}
