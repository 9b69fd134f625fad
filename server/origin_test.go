package server

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHostAndOriginAllowed(t *testing.T) {
	t.Parallel()
	public, _ := url.Parse("https://labs.example.com")
	local := &Server{opts: Options{AllowedHosts: []string{"lab-box"}}}
	behind := &Server{public: public}
	tests := []struct {
		name   string
		s      *Server
		tls    bool
		host   string
		origin string // empty: only the Host is judged
		want   bool
	}{
		{"localhost", local, false, "localhost:8080", "http://localhost:8080", true},
		{"a .localhost name", local, false, "lab.localhost:8080", "", true},
		{"IPv4 literal", local, false, "127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"IPv6 literal", local, false, "[::1]:8080", "http://[::1]:8080", true},
		{"LAN address", local, false, "192.168.1.20:8080", "", true},
		{"a listed name", local, false, "LAB-BOX:8080", "http://lab-box:8080", true},
		{"rebinding name", local, false, "rebind.evil.example:8080", "", false},
		{"rebinding name and Origin", local, false, "rebind.evil.example:8080", "http://rebind.evil.example:8080", false},
		{"https Origin on http", local, false, "localhost:8080", "https://localhost:8080", false},
		{"http Origin on https", local, true, "localhost:8443", "http://localhost:8443", false},
		{"other port", local, false, "localhost:8080", "http://localhost:9090", false},
		{"null Origin", local, false, "localhost:8080", "null", false},
		{"public host", behind, false, "labs.example.com", "https://labs.example.com", true},
		{"public host, http Origin", behind, false, "labs.example.com", "http://labs.example.com", false},
		{"public URL set: localhost refused", behind, false, "localhost:8080", "", false},
		{"public URL set: other Origin", behind, false, "labs.example.com", "https://evil.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.s.hostAllowed(tt.host)
			if tt.origin != "" && got {
				r := httptest.NewRequest(http.MethodPost, "/", nil)
				r.Host = tt.host
				if tt.tls {
					r.TLS = &tls.ConnectionState{}
				}
				got = tt.s.originAllowed(r, tt.origin)
			}
			if got != tt.want {
				t.Errorf("host %q origin %q: allowed = %v, want %v", tt.host, tt.origin, got, tt.want)
			}
		})
	}
}

// TestDNSRebindingGetsNothing is the attack: a page on the attacker's name,
// rebound to kubelab's loopback address, sends requests whose Host and
// Origin both carry that name. None may create a guest, start a session or
// open a shell.
func TestDNSRebindingGetsNothing(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	victim := guest(t, ts)
	ss := startReady(t, victim, "pods")
	port := ts.url[strings.LastIndex(ts.url, ":")+1:]
	evil := "rebind.evil.example:" + port
	attacker := ts.client(t)
	for _, req := range []struct{ method, path string }{
		{"POST", "/api/v1/auth/guest"},
		{"GET", "/"},
		{"GET", "/api/v1/chapters"},
	} {
		res, body := attacker.raw(t, req.method, req.path, "", map[string]string{"Host": evil, "Origin": "http://" + evil})
		if res.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(string(body), errUnknownHost.message) {
			t.Errorf("%s %s under a rebound name: %d %s, want %d and the unknown-host sentence",
				req.method, req.path, res.StatusCode, body, http.StatusMisdirectedRequest)
		}
	}
	before := noShellRunning(t, ts, ss.ID)
	// The victim's own cookie, sent by the browser to the rebound name.
	header := http.Header{"Host": {evil}, "Origin": {"http://" + evil}}
	for _, c := range victim.http.Jar.Cookies(mustParse(t, ts.url)) {
		header.Add("Cookie", c.Name+"="+c.Value)
	}
	ws := "ws" + strings.TrimPrefix(ts.url, "http") + "/api/v1/sessions/" + ss.ID + "/terminal"
	conn, res, err := websocket.DefaultDialer.DialContext(t.Context(), ws, header)
	if err == nil {
		conn.Close()
		t.Fatal("the terminal websocket opened under a rebound name")
	}
	if res == nil || res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("terminal under a rebound name: %v, want %d", res, http.StatusMisdirectedRequest)
	}
	if n := ts.shells.Load() - before; n != 0 {
		t.Errorf("%d shells started for a rebound request, want 0", n)
	}
}

// TestCrossSiteUpgradeStartsNoShell: a refused cross-site websocket must be
// refused before the victim's shell starts, not after.
func TestCrossSiteUpgradeStartsNoShell(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	victim := guest(t, ts)
	ss := startReady(t, victim, "pods")
	before := noShellRunning(t, ts, ss.ID)
	ws := "ws" + strings.TrimPrefix(ts.url, "http") + "/api/v1/sessions/" + ss.ID + "/terminal"
	for _, origin := range []string{"https://evil.example", "https" + strings.TrimPrefix(ts.url, "http")} {
		header := http.Header{"Origin": {origin}}
		for _, c := range victim.http.Jar.Cookies(mustParse(t, ts.url)) {
			header.Add("Cookie", c.Name+"="+c.Value)
		}
		conn, res, err := websocket.DefaultDialer.DialContext(t.Context(), ws, header)
		if err == nil {
			conn.Close()
			t.Fatalf("the terminal websocket opened for Origin %s", origin)
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("terminal for Origin %s: %v, want 403", origin, res)
		}
	}
	if n := ts.shells.Load() - before; n != 0 {
		t.Errorf("%d shells started by refused cross-site upgrades, want 0", n)
	}
}

// noShellRunning waits for the shell kubelab starts ahead for a ready
// session, ends it, and returns how many shells were started so far: a
// request that gets through starts a new one.
func noShellRunning(t *testing.T, ts *testStack, session string) int64 {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ts.shells.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no shell was started ahead for the ready session")
		}
	}
	ts.srv.terminals.Close(session, "test")
	for deadline := time.Now().Add(30 * time.Second); ts.srv.terminals.Len() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shell started ahead did not end")
		}
	}
	return ts.shells.Load()
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
