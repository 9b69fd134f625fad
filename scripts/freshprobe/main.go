// Command freshprobe acts as a newcomer against a running kubelab: it
// signs in as a guest, starts a chapter, opens the terminal websocket and
// runs kubectl and helm in the learner's jailed shell, checking what they
// print. scripts/fresh-machine runs it against kubelab on a fresh Debian
// root file system.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "kubelab's URL")
	chapter := flag.String("chapter", "replicasets", "the chapter to start")
	flag.Parse()
	if err := probe(*base, *chapter); err != nil {
		fmt.Fprintln(os.Stderr, "freshprobe: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("freshprobe: ok")
}

func probe(base, chapter string) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	call := func(method, path string) ([]byte, error) {
		req, err := http.NewRequest(method, base+path, bytes.NewReader([]byte("{}")))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", base)
		res, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			return b, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		return b, nil
	}
	if _, err := call("POST", "/api/v1/auth/guest"); err != nil {
		return err
	}
	var ss struct{ ID, Status, Reason string }
	b, err := call("POST", "/api/v1/chapters/"+chapter+"/session")
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if err := json.Unmarshal(b, &ss); err != nil {
			return fmt.Errorf("session: %s", b)
		}
		if ss.Status == "ready" {
			break
		}
		if ss.Status == "failed" || time.Now().After(deadline) {
			return fmt.Errorf("session %s: %s %s", ss.ID, ss.Status, ss.Reason)
		}
		if b, err = call("GET", "/api/v1/sessions/"+ss.ID); err != nil {
			return err
		}
	}
	fmt.Println("freshprobe: session", ss.ID, "ready")

	header := http.Header{"Origin": {base}}
	for _, ck := range jar.Cookies(mustURL(base)) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/sessions/"+ss.ID+"/terminal", header)
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "hello", "offset": 0}); err != nil {
		return err
	}
	var out bytes.Buffer
	read := func(want string, within time.Duration) error {
		_ = ws.SetReadDeadline(time.Now().Add(within))
		for !strings.Contains(out.String(), want) {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return fmt.Errorf("waiting for %q: %w; the shell printed:\n%s", want, err, out.String())
			}
			if typ == websocket.BinaryMessage {
				out.Write(data)
			}
		}
		return nil
	}
	run := func(line, want string, within time.Duration) error {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(line+"\r")); err != nil {
			return err
		}
		return read(want, within)
	}
	steps := []struct {
		line, want string
		within     time.Duration
	}{
		{`kubectl version 2>&1 | grep -c -e 'Client Version: v1.36' -e 'Server Version: v1.36'; kubectl version 2>&1 | grep -c WARNING; echo ver-$((40+1))`, "2\r\n0\r\nver-41", 2 * time.Minute},
		{`helm search repo kubelab | grep -c '^kubelab/'; echo search-$((40+2))`, "2\r\nsearch-42", 2 * time.Minute},
		{`helm install web kubelab/web --wait --timeout 90s >/dev/null 2>&1; kubectl get deployment web -o jsonpath='{.status.readyReplicas}'; echo; echo inst-$((40+3))`, "1\r\ninst-43", 2 * time.Minute},
		{`for t in jq yq vim nano less watch curl git; do command -v $t >/dev/null || echo "lacks-$t"; done; echo tools-$((40+4))`, "tools-44", 2 * time.Minute},
		// kubelab builds k9s in the background at its first start as root:
		// on a machine without Go's build cache that takes minutes. The
		// shell opened before it was there runs it once it is.
		{`for i in $(seq 900); do type -P k9s >/dev/null && break; sleep 1; done; k9s version -s | grep -c '^Version *v0'; echo k9s-$((40+5))`, "1\r\nk9s-45", 16 * time.Minute},
	}
	for _, s := range steps {
		if err := run(s.line, s.want, s.within); err != nil {
			return err
		}
	}
	if regexp.MustCompile(`lacks-[a-z]`).MatchString(out.String()) { // the echoed command line has lacks-$t
		return errors.New("the learner's toolbox is incomplete:\n" + out.String())
	}
	fmt.Println(out.String())
	return nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
