package terminal_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/server/terminal"
)

func TestEchoRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	c := h.dial("a", false, 0)
	if got := c.waitControl("resume"); got["offset"] != 0.0 {
		t.Errorf("resume = %v, want offset 0", got)
	}
	c.send("echo hello-$((40+2))\n")
	c.waitOutput("hello-42")
}

func TestResizeReachesPTY(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	c := h.dial("a", false, 0)
	c.sendJSON(map[string]any{"type": "resize", "cols": 123, "rows": 45})
	c.send("stty size\n")
	c.waitOutput("45 123")
}

// burstScript prints READY, waits for a line, then about 1 MB of numbers.
const burstScript = `stty -echo; echo READY; read x; seq 1 140000; echo DONE; exec sleep 600`

func burstWant() []byte {
	var b bytes.Buffer
	b.WriteString("READY\r\n")
	for i := 1; i <= 140000; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteString("\r\n")
	}
	b.WriteString("DONE\r\n")
	return b.Bytes()
}

func TestReconnectReplaysExactlyTheMissingBytes(t *testing.T) {
	t.Parallel()
	want := burstWant()
	if len(want) < 1_000_000 || len(want) > 1<<20 {
		t.Fatalf("burst is %d bytes; the test wants about 1 MB that fits the default ring", len(want))
	}
	h := newHarness(t, terminal.Options{}, func() (terminal.Process, error) { return startPTY(t, "/bin/sh", "-c", burstScript) })

	a := h.dial("k", false, 0)
	a.waitOutput("READY\r\n")
	a.send("go\n")
	a.waitFor("300 kB", func(c *client) bool { return c.out.Len() >= 300_000 })
	a.ws.Close() // a page reload: no close handshake
	a.waitClosed()
	got := a.output()

	b := h.dial("k", false, int64(len(got)))
	if r := b.waitControl("resume"); r["offset"] != float64(len(got)) {
		t.Errorf("resume = %v, want offset %d", r, len(got))
	}
	b.waitFor("all bytes", func(c *client) bool { return len(got)+c.out.Len() >= len(want) })
	got = append(got, b.output()...)
	if !bytes.Equal(got, want) {
		t.Errorf("first connection + reconnect = %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}

	// A fresh attach (offset 0) gets the whole scrollback.
	c := h.dial("k", false, 0)
	c.waitFor("all bytes", func(c *client) bool { return c.out.Len() >= len(want) })
	if got := c.output(); !bytes.Equal(got, want) {
		t.Errorf("fresh attach = %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func TestReconnectAfterRingOverflowSaysWhatWasDropped(t *testing.T) {
	t.Parallel()
	want := burstWant()
	h := newHarness(t, terminal.Options{BufferSize: 256 << 10}, func() (terminal.Process, error) {
		return startPTY(t, "/bin/sh", "-c", burstScript)
	})
	a := h.dial("k", false, 0)
	a.waitOutput("READY\r\n")
	a.ws.Close()
	a.waitClosed()
	// Nobody is attached: the burst runs through the ring without waiting.
	b := h.dial("k", false, 7)
	b.send("go\n")
	b.waitFor("DONE", func(c *client) bool { return bytes.HasSuffix(c.out.Bytes(), []byte("DONE\r\n")) })
	b.ws.Close()
	b.waitClosed()

	c := h.dial("k", false, 7)
	r := c.waitControl("resume")
	start := int64(r["offset"].(float64))
	wantStart := int64(len(want) - 256<<10)
	if start != wantStart {
		t.Errorf("resume offset = %d, want %d", start, wantStart)
	}
	info := c.waitControl("info")
	if wantMsg := fmt.Sprintf("output before byte %d was dropped", wantStart); info["message"] != wantMsg {
		t.Errorf("info = %q, want %q", info["message"], wantMsg)
	}
	c.waitFor("the ring", func(c *client) bool { return c.out.Len() >= 256<<10 })
	if got := c.output(); !bytes.Equal(got, want[start:]) {
		t.Errorf("replay = %d bytes, want %d; first difference at %d", len(got), len(want[start:]), firstDiff(got, want[start:]))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestTwoClientsAndReadOnlyViewer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	owner := h.dial("k", false, 0)
	second := h.dial("k", false, 0)
	viewer := h.dial("k", true, 0)
	for _, c := range []*client{owner, second, viewer} {
		c.waitControl("resume")
	}

	viewer.send("echo VIEWER-TYPED\n")
	viewer.sendJSON(map[string]any{"type": "resize", "cols": 33, "rows": 11})
	owner.send("echo from-$((1+1))-owner\n")
	second.send("stty size; echo from-second\n")
	for _, c := range []*client{owner, second, viewer} {
		c.waitOutput("from-2-owner")
		c.waitOutput("from-second")
	}
	for name, c := range map[string]*client{"owner": owner, "second": second, "viewer": viewer} {
		if out := c.output(); bytes.Contains(out, []byte("VIEWER-TYPED")) || bytes.Contains(out, []byte("11 33")) {
			t.Errorf("%s saw the read-only viewer's input or resize:\n%q", name, out)
		}
	}
}

func TestShellExitSendsExit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	c := h.dial("k", false, 0)
	c.waitControl("resume")
	c.send("echo bye; exit 3\n")
	got := c.waitControl("exit")
	if diff := cmp.Diff("shell exited: exit status 3", got["reason"]); diff != "" {
		t.Errorf("exit reason (-want +got):\n%s", diff)
	}
	c.waitOutput("bye")
	if err := c.waitClosed(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("connection ended with %v, want a normal close", err)
	}
	// The next attach starts a new shell.
	d := h.dial("k", false, 0)
	d.send("echo again\n")
	d.waitOutput("again")
}

func TestShutdownTellsClientsWhy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	a := h.dial("a", false, 0)
	b := h.dial("b", false, 0)
	a.waitControl("resume")
	b.waitControl("resume")
	if err := h.mgr.Shutdown(t.Context(), "kubelab is restarting"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range []*client{a, b} {
		if got := c.waitControl("exit")["reason"]; got != "kubelab is restarting" {
			t.Errorf("exit reason = %q, want %q", got, "kubelab is restarting")
		}
		c.waitClosed()
	}
	if _, err := h.mgr.Open(t.Context(), "c", nil); err != terminal.ErrClosed {
		t.Errorf("Open after Shutdown = %v, want ErrClosed", err)
	}
}

func TestCloseKeyTellsReason(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	a := h.dial("a", false, 0)
	a.waitControl("resume")
	h.mgr.Close("a", "session ended")
	if got := a.waitControl("exit")["reason"]; got != "session ended" {
		t.Errorf("exit reason = %q, want %q", got, "session ended")
	}
}

func TestGraceAndIdle(t *testing.T) {
	t.Parallel()
	t.Run("grace", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, terminal.Options{Grace: 200 * time.Millisecond}, bash(t))
		a := h.dial("k", false, 0)
		a.send("echo pid=$$.\n")
		a.waitOutput("pid=")
		first := pidOf(a.output())
		a.ws.Close()
		a.waitClosed()
		for h.mgr.Len() != 0 {
			time.Sleep(20 * time.Millisecond)
		}
		b := h.dial("k", false, 0)
		b.send("echo pid=$$.\n")
		b.waitFor("second pid", func(c *client) bool { return bytes.Count(c.out.Bytes(), []byte("pid=")) >= 2 })
		if second := pidOf(b.output()); second == first {
			t.Errorf("after the grace period the same shell (pid %s) answered", first)
		}
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, terminal.Options{IdleTimeout: 300 * time.Millisecond}, bash(t))
		a := h.dial("k", false, 0)
		if got := a.waitControl("exit")["reason"]; got != "idle for 300ms" {
			t.Errorf("exit reason = %q, want %q", got, "idle for 300ms")
		}
	})
}

// pidOf returns the last "pid=N." in out.
func pidOf(out []byte) string {
	s := string(out)
	i := strings.LastIndex(s, "pid=")
	j := strings.Index(s[i:], ".")
	return s[i+4 : i+j]
}

func TestHostileFramesCloseCleanly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, terminal.Options{}, bash(t))
	tests := []struct {
		name     string
		send     func(c *client)
		wantCode int
	}{
		{"oversized", func(c *client) { c.ws.WriteMessage(websocket.BinaryMessage, make([]byte, 1<<20)) }, websocket.CloseMessageTooBig},
		{"malformed JSON", func(c *client) { c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":`)) }, websocket.ClosePolicyViolation},
		{"unknown type", func(c *client) { c.sendJSON(map[string]any{"type": "exec", "cmd": "id"}) }, websocket.ClosePolicyViolation},
		{"negative resize", func(c *client) { c.sendJSON(map[string]any{"type": "resize", "cols": -1, "rows": 10}) }, websocket.ClosePolicyViolation},
		{"huge resize", func(c *client) { c.sendJSON(map[string]any{"type": "resize", "cols": 70000, "rows": 70000}) }, websocket.ClosePolicyViolation},
		{"resize without size", func(c *client) { c.sendJSON(map[string]any{"type": "resize"}) }, websocket.ClosePolicyViolation},
		{"negative offset", func(c *client) {}, websocket.ClosePolicyViolation},
		{"second hello", func(c *client) { c.sendJSON(map[string]any{"type": "hello", "offset": 0}) }, websocket.ClosePolicyViolation},
		{"resize flood", func(c *client) {
			for i := range 500 {
				if c.ws.WriteJSON(map[string]any{"type": "resize", "cols": 80 + i%5, "rows": 24}) != nil {
					return
				}
			}
		}, websocket.ClosePolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := strings.ReplaceAll(tt.name, " ", "-")
			var c *client
			if tt.name == "negative offset" {
				c = h.dialRaw(key, false)
				c.sendJSON(map[string]any{"type": "hello", "offset": -5})
			} else {
				c = h.dial(key, false, 0)
				c.waitControl("resume")
			}
			tt.send(c)
			err := c.waitClosed()
			if !websocket.IsCloseError(err, tt.wantCode) {
				t.Errorf("connection ended with %v, want close code %d", err, tt.wantCode)
			}
			// The terminal itself survives its client's misbehaviour.
			d := h.dial(key, false, 0)
			d.send("echo still-$((6*7))\n")
			d.waitOutput("still-42")
		})
	}
}

// TestFloodKeepsMemoryFlat pushes 1 GiB through a terminal with a reading
// client and a viewer that never reads: the heap must not grow with it.
func TestFloodKeepsMemoryFlat(t *testing.T) {
	t.Parallel()
	const total = 1 << 30
	h := newHarness(t, terminal.Options{}, func() (terminal.Process, error) {
		return startPTY(t, "/bin/sh", "-c", fmt.Sprintf("stty -echo raw; read x; yes | head -c %d; echo; echo FLOOD-DONE; exec sleep 600", total))
	})
	c := h.dial("k", false, 0)
	c.waitControl("resume")
	// A viewer whose socket is never read: its TCP window fills and stays full.
	stalled, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/term?key=k&ro=1", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer stalled.Close()
	stalled.WriteJSON(map[string]any{"type": "hello", "offset": 0})

	runtime.GC()
	before := heapInUse()
	var peak atomic.Uint64
	stop := make(chan struct{})
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

	// Count the bytes without keeping them.
	c.ws.Close()
	c.waitClosed()
	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/term?key=k", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	ws.WriteJSON(map[string]any{"type": "hello", "offset": 1 << 40})
	ws.WriteMessage(websocket.BinaryMessage, []byte("go\n"))
	n := readUntil(t, ws, "FLOOD-DONE")
	close(stop)
	if n < total {
		t.Errorf("received %d bytes, want at least %d", n, total)
	}
	growth := int64(peak.Load()) - int64(before)
	t.Logf("1 GiB flood: heap in use before %d KiB, peak %d KiB (growth %d KiB)", before>>10, peak.Load()>>10, growth>>10)
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB during a 1 GiB flood; want flat (< 32 MiB)", growth>>20)
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestOpenConcurrentStartsOnce races many Opens for one key.
func TestOpenConcurrentStartsOnce(t *testing.T) {
	t.Parallel()
	mgr := terminal.NewManager(terminal.Options{})
	t.Cleanup(func() { mgr.Shutdown(context.WithoutCancel(t.Context()), "test over") })
	var starts atomic.Int32
	start := func(ctx context.Context) (terminal.Process, error) {
		starts.Add(1)
		time.Sleep(50 * time.Millisecond)
		return startPTY(t, "/bin/cat")
	}
	terms := make(chan *terminal.Terminal, 10)
	for range 10 {
		go func() {
			term, err := mgr.Open(t.Context(), "k", start)
			if err != nil {
				t.Errorf("Open: %v", err)
			}
			terms <- term
		}()
	}
	first := <-terms
	for range 9 {
		if got := <-terms; got != first {
			t.Errorf("Open returned different terminals for one key")
		}
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("start ran %d times, want 1", n)
	}
}

// TestResumeSaysWhereLiveOutputStarts: the resume message's "live" is the
// end of the output at attach time, so the client knows which bytes are
// replay and must not be answered.
func TestResumeSaysWhereLiveOutputStarts(t *testing.T) {
	t.Parallel()
	// Prints only READY and what it reads, so the output is known.
	h := newHarness(t, terminal.Options{}, func() (terminal.Process, error) {
		return startPTY(t, "/bin/sh", "-c", `stty -echo; echo READY; while read x; do printf '%s.' "$x"; done`)
	})
	first := h.dial("k", false, 0)
	first.waitOutput("READY\r\n")
	first.send("one\n")
	first.waitOutput("one.")
	end := float64(len("READY\r\none."))
	if got := len(first.output()); got != int(end) {
		t.Fatalf("output is %d bytes, want %v: %q", got, end, first.output())
	}

	tests := []struct {
		name   string
		hello  int64
		offset float64
	}{
		{"new page", 0, 0},
		{"reconnect mid-output", 2, 2},
		{"reconnect up to date", int64(end), end},
		{"restarted terminal", int64(end) + 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := h.dial("k", false, tt.hello)
			r := c.waitControl("resume")
			if r["offset"] != tt.offset || r["live"] != end {
				t.Errorf("hello offset %d: resume = %v, want offset %v, live %v", tt.hello, r, tt.offset, end)
			}
		})
	}
}

// readUntil reads binary messages until their text holds marker and
// returns how many bytes came; a read stalled for two minutes fails t.
// The marker is looked for before the kept tail is cut: what follows it
// (a prompt) may arrive in the same message.
func readUntil(t *testing.T, ws *websocket.Conn, marker string) int64 {
	t.Helper()
	var n int64
	tail := make([]byte, 0, 2*len(marker)+64)
	for {
		ws.SetReadDeadline(time.Now().Add(2 * time.Minute))
		typ, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		if typ != websocket.BinaryMessage {
			continue
		}
		n += int64(len(data))
		tail = append(tail, data...)
		if bytes.Contains(tail, []byte(marker)) {
			return n
		}
		if len(tail) > len(marker) {
			tail = append(tail[:0], tail[len(tail)-len(marker):]...)
		}
	}
}
