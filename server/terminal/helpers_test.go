package terminal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/kubelab/kubelab/internal/procstat"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/server/terminal"
)

// ptyProcess is a real program on a real PTY, without a jail: the jail has
// its own tests, these are about the bridge.
type ptyProcess struct {
	cmd  *exec.Cmd
	f    *os.File
	once sync.Once
}

func startPTY(t testing.TB, argv ...string) (*ptyProcess, error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TERM=xterm-256color", "HOME=/tmp", "PS1=$ "}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
	if err != nil {
		return nil, err
	}
	return &ptyProcess{cmd: cmd, f: f}, nil
}

func (p *ptyProcess) Read(b []byte) (int, error)  { return p.f.Read(b) }
func (p *ptyProcess) Write(b []byte) (int, error) { return p.f.Write(b) }
func (p *ptyProcess) Resize(cols, rows uint16) error {
	return pty.Setsize(p.f, &pty.Winsize{Cols: cols, Rows: rows})
}
func (p *ptyProcess) Close() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.f.Close()
	})
	return nil
}
func (p *ptyProcess) Wait() error { return p.cmd.Wait() }

// bash is a plain interactive bash with no rc files.
func bash(t testing.TB) func() (terminal.Process, error) {
	return func() (terminal.Process, error) { return startPTY(t, "/bin/bash", "--norc", "--noprofile", "-i") }
}

// harness serves one Manager over a real websocket on a loopback listener.
type harness struct {
	t   testing.TB
	mgr *terminal.Manager
	srv *httptest.Server
	// start is what /term/{key} runs when the key has no live terminal.
	start    func() (terminal.Process, error)
	serveErr chan error
	mux      *http.ServeMux // /term is the terminal; tests may add routes

	connMu sync.Mutex
	conns  []*websocket.Conn
}

// dropConnections cuts every server-side connection without a close
// frame, like a network failure.
func (h *harness) dropConnections() {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	for _, c := range h.conns {
		c.NetConn().Close()
	}
	h.conns = nil
}

func newHarness(t testing.TB, opts terminal.Options, start func() (terminal.Process, error)) *harness {
	t.Helper()
	h := &harness{t: t, mgr: terminal.NewManager(opts), start: start, serveErr: make(chan error, 100), mux: http.NewServeMux()}
	up := terminal.Upgrader(func(*http.Request) bool { return true }) // origins are the server's test
	h.srv = httptest.NewServer(h.mux)
	h.mux.HandleFunc("/term", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		readOnly := r.URL.Query().Get("ro") == "1"
		var term *terminal.Terminal
		var err error
		if readOnly {
			var ok bool
			if term, ok = h.mgr.Get(key); !ok {
				http.NotFound(w, r)
				return
			}
		} else {
			term, err = h.mgr.Open(r.Context(), key, func(ctx context.Context) (terminal.Process, error) { return h.start() })
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.connMu.Lock()
		h.conns = append(h.conns, ws)
		h.connMu.Unlock()
		select {
		case h.serveErr <- term.Serve(r.Context(), ws, readOnly):
		default:
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		if err := h.mgr.Shutdown(ctx, "test over"); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		h.srv.Close()
	})
	return h
}

// client is the test's side of one connection.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	mu   sync.Mutex
	out  bytes.Buffer // binary output received
	ctrl []map[string]any
	cond *sync.Cond
	err  error // why reading stopped
	done bool
}

func (h *harness) dial(key string, readOnly bool, offset int64) *client {
	h.t.Helper()
	c := h.dialRaw(key, readOnly)
	c.sendJSON(map[string]any{"type": "hello", "offset": offset})
	return c
}

func (h *harness) dialRaw(key string, readOnly bool) *client {
	h.t.Helper()
	u := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/term?key=" + key
	if readOnly {
		u += "&ro=1"
	}
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		h.t.Fatalf("dial %s: %v", u, err)
	}
	resp.Body.Close()
	c := &client{t: h.t, ws: ws}
	c.cond = sync.NewCond(&c.mu)
	go c.readLoop()
	h.t.Cleanup(func() { ws.Close() })
	return c
}

func (c *client) readLoop() {
	for {
		typ, data, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.err, c.done = err, true
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		switch typ {
		case websocket.BinaryMessage:
			c.out.Write(data)
		case websocket.TextMessage:
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				c.t.Errorf("server sent non-JSON text frame %q", data)
			}
			c.ctrl = append(c.ctrl, m)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) sendJSON(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send control: %v", err)
	}
}

var errTimeout = errors.New("timed out")

// waitFor blocks until cond holds (checked under the client's lock), the
// connection ends, or 20 s pass.
func (c *client) waitFor(what string, cond func(c *client) bool) {
	c.t.Helper()
	deadline := time.AfterFunc(20*time.Second, func() {
		c.mu.Lock()
		if !c.done {
			c.err, c.done = errTimeout, true
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer deadline.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond(c) {
		if c.done {
			c.t.Fatalf("waiting for %s: connection ended (%v); output so far:\n%q\ncontrol: %v", what, c.err, tail(c.out.Bytes()), c.ctrl)
		}
		c.cond.Wait()
	}
}

func (c *client) waitOutput(s string) {
	c.t.Helper()
	c.waitFor("output "+s, func(c *client) bool { return bytes.Contains(c.out.Bytes(), []byte(s)) })
}

// waitControl returns the first control message of type typ.
func (c *client) waitControl(typ string) map[string]any {
	c.t.Helper()
	var got map[string]any
	c.waitFor("control "+typ, func(c *client) bool {
		for _, m := range c.ctrl {
			if m["type"] == typ {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// waitClosed waits for the connection to end and returns the error.
func (c *client) waitClosed() error {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	timer := time.AfterFunc(20*time.Second, func() { c.ws.Close() })
	defer timer.Stop()
	for !c.done {
		c.cond.Wait()
	}
	return c.err
}

func (c *client) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func tail(b []byte) []byte {
	if len(b) > 400 {
		return b[len(b)-400:]
	}
	return b
}

// rss is this process's resident set size in bytes.
func rss(t testing.TB) uint64 {
	t.Helper()
	n, err := procstat.RSS("self")
	if err != nil {
		t.Fatal(err)
	}
	return n
}
