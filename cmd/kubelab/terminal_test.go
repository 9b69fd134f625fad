package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestServeLearnerTerminal drives the production wiring end to end: a guest
// starts a chapter on `kubelab serve`, opens the terminal websocket, and the
// jailed kubectl reaches the sandbox with the learner's own, renewable
// credential — and nothing beyond it.
func TestServeLearnerTerminal(t *testing.T) {
	t.Parallel()
	p := startKubelab(t, t.TempDir())
	c := newAPIClient(t, p.url)
	call := c.do
	if code, body := call("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	_, body := call("POST", "/api/v1/chapters/pods/session")
	var ss struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Sandbox struct {
			Namespace string `json:"namespace"`
		} `json:"sandbox"`
	}
	for deadline := time.Now().Add(60 * time.Second); ss.Status != "ready"; {
		if err := json.Unmarshal(body, &ss); err != nil || ss.ID == "" {
			t.Fatalf("session: %s", body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("session never ready: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
		_, body = call("GET", "/api/v1/sessions/"+ss.ID)
	}

	header := http.Header{"Origin": {p.url}}
	for _, ck := range c.jar.Cookies(mustParseURL(t, p.url)) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws, res, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(p.url, "http")+"/api/v1/sessions/"+ss.ID+"/terminal", header)
	if err != nil {
		t.Fatalf("terminal: %v (%v)\n%s", err, res, p.output())
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "hello", "offset": 0}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	go func() {
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.BinaryMessage {
				p.mu.Lock()
				out.Write(data)
				p.mu.Unlock()
			}
		}
	}()
	waitOut := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			p.mu.Lock()
			got := out.String()
			p.mu.Unlock()
			if strings.Contains(got, want) {
				return
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Fatalf("the terminal never printed %q; it printed:\n%s", want, out.String())
	}
	typeLine := func(line string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(line+"\r")); err != nil {
			t.Fatal(err)
		}
	}
	// Each probe prints a marker built by the shell, so the echoed command
	// line never matches it.
	typeLine(`kubectl create configmap probe && kubectl get configmap probe -o jsonpath='{.metadata.namespace}{"\n"}' && echo own-$((40+2))`)
	waitOut(ss.Sandbox.Namespace + "\r\nown-42")
	typeLine(`kubectl get pods -n kube-system 2>&1 | grep -q Forbidden && echo forbidden-$((40+3))`)
	waitOut("forbidden-43")
	// The credential is a renewable file, not a token pasted in the kubeconfig.
	typeLine(`grep -c 'tokenFile: /run/kubelab/token' ~/.kube/config; grep -c 'token: ' ~/.kube/config; echo cfg-$((40+4))`)
	waitOut("1\r\n0\r\ncfg-44")
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
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, nil)
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
