package terminal_test

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/jail/jailtest"
	"github.com/kubelab/kubelab/server/terminal"
)

func TestMain(m *testing.M) { jailtest.Main(m) }

var _ terminal.Process = (*jail.Shell)(nil)

var (
	jailOnce sync.Once
	theJail  *jail.Jail
)

func sharedJail(t testing.TB) *jail.Jail {
	t.Helper()
	if testing.Short() {
		t.Skip("fast tier (-short): needs bubblewrap jails; run without -short")
	}
	jailOnce.Do(func() { theJail = jailtest.New(t, jailtest.Options(t)) })
	if theJail == nil {
		t.Fatal("jail.New failed in an earlier test")
	}
	return theJail
}

// fakeAPI is a TLS stand-in for the learner's API server.
func fakeAPI(t testing.TB) jail.Spec {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","message":"api saw %s"}`, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.TLS.Certificates[0].Certificate[0]})
	return jail.Spec{ID: "t", Server: srv.URL, CAData: ca, Token: "tok", Namespace: "lab-1", Context: "demo"}
}

func jailedShell(t testing.TB, spec jail.Spec) func() (terminal.Process, error) {
	return func() (terminal.Process, error) {
		return sharedJail(t).Shell(t.Context(), spec)
	}
}

func TestJailedShellOverWebsocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, jailedShell(t, fakeAPI(t)))
	c := h.dial("k", false, 0)
	c.waitOutput("\x1b[1;32m\x1b[0m $ ") // the lab's own namespace goes unnamed: an empty note
	c.sendJSON(map[string]any{"type": "resize", "cols": 100, "rows": 30})
	c.send("stty size\n")
	c.waitOutput("30 100")
	c.send("k get --raw /api/ping\n")
	c.waitOutput("api saw /api/ping")
	c.send("kubectl config set-context --current --namespace=other >/dev/null\n")
	c.waitOutput("(ns: other)")
	c.send("exit 7\n")
	if got := c.waitControl("exit")["reason"]; got != "shell exited: exit status 7" {
		t.Errorf("exit reason = %q, want %q", got, "shell exited: exit status 7")
	}
}

// TestJailedFloodKeepsMemoryFlat: 1 GiB of `yes` from inside the jail
// through the websocket, with a stalled viewer attached.
func TestJailedFloodKeepsMemoryFlat(t *testing.T) {
	t.Parallel()
	const total = 1 << 30
	h := newHarness(t, terminal.Options{}, jailedShell(t, fakeAPI(t)))
	wsURL := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/term?key=k"
	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	ws.WriteJSON(map[string]any{"type": "hello", "offset": 0})
	stalled, resp, err := websocket.DefaultDialer.DialContext(t.Context(), wsURL+"&ro=1", nil)
	if err != nil {
		t.Fatalf("dial viewer: %v", err)
	}
	resp.Body.Close()
	defer stalled.Close()
	stalled.WriteJSON(map[string]any{"type": "hello", "offset": 0})

	runtime.GC()
	before := heapInUse()
	rssBefore := rss(t)
	var peak atomic.Uint64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if v := heapInUse(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	ws.WriteMessage(websocket.BinaryMessage, []byte(fmt.Sprintf("stty raw -echo; yes | head -c %d; echo; echo FLOOD-''DONE\n", total)))
	n := readUntil(t, ws, "FLOOD-DONE")
	rssAfter := rss(t)
	if n < total {
		t.Errorf("received %d bytes, want at least %d", n, total)
	}
	growth := int64(peak.Load()) - int64(before)
	t.Logf("1 GiB flood from the jail: heap in use %d KiB before, peak %d KiB (growth %d KiB); RSS %d KiB before, %d KiB after",
		before>>10, peak.Load()>>10, growth>>10, rssBefore>>10, rssAfter>>10)
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB during a 1 GiB flood; want flat (< 32 MiB)", growth>>20)
	}
	if d := int64(rssAfter) - int64(rssBefore); d > 64<<20 {
		t.Errorf("RSS grew by %d MiB during a 1 GiB flood; want flat (< 64 MiB)", d>>20)
	}
}
