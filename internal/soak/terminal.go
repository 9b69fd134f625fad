package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// keep is how much of the terminal's output is kept for matching.
const keep = 64 << 10

// termConn is a learner's terminal websocket (server/terminal's protocol:
// binary frames are bytes, text frames JSON control messages).
type termConn struct {
	ws   *websocket.Conn
	done chan struct{} // closed when the reader ends

	mu      sync.Mutex
	out     []byte // the last keep bytes of output
	total   int64  // bytes of output so far
	exit    string // the server's exit reason, once it sent one
	err     error  // why the connection ended
	changed chan struct{}
}

// openTerminal connects to the session's terminal as the page does: the
// learner's cookies, the page's Origin, a hello from offset 0 and the
// window's size.
func openTerminal(ctx context.Context, c *apiClient, session string) (*termConn, error) {
	header := http.Header{"Origin": {c.base}, "Cookie": {c.cookieHeader()}}
	url := "ws" + strings.TrimPrefix(c.base, "http") + "/api/v1/sessions/" + session + "/terminal"
	ws, res, err := websocket.DefaultDialer.DialContext(ctx, url, header)
	if err != nil {
		if res != nil {
			return nil, &errStatus{route: "GET terminal", status: res.StatusCode, body: err.Error()}
		}
		return nil, fmt.Errorf("open terminal: %w", err)
	}
	t := &termConn{ws: ws, done: make(chan struct{}), changed: make(chan struct{})}
	go t.read() // owned by t: close waits for done
	for _, m := range []map[string]any{{"type": "hello", "offset": 0}, {"type": "resize", "cols": 200, "rows": 50}} {
		if err := ws.WriteJSON(m); err != nil {
			t.close()
			return nil, fmt.Errorf("terminal %s: %w", m["type"], err)
		}
	}
	return t, nil
}

func (t *termConn) read() {
	defer close(t.done)
	for {
		typ, data, err := t.ws.ReadMessage()
		t.mu.Lock()
		switch {
		case err != nil:
			t.err = err
		case typ == websocket.BinaryMessage:
			t.out = append(t.out, data...)
			if len(t.out) > keep {
				t.out = t.out[len(t.out)-keep:]
			}
			t.total += int64(len(data))
		case typ == websocket.TextMessage:
			var m struct{ Type, Reason string }
			if json.Unmarshal(data, &m) == nil && m.Type == "exit" {
				t.exit = m.Reason
			}
		}
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (t *termConn) close() {
	_ = t.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "closed by the page"), time.Now().Add(time.Second))
	_ = t.ws.Close()
	<-t.done
}

// mark is the output offset now: later waits look at what follows it.
func (t *termConn) mark() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// waitFor waits until output after mark satisfies ok, and returns when.
func (t *termConn) waitFor(ctx context.Context, mark int64, within time.Duration, what string, ok func(after []byte) bool) (time.Time, error) {
	timeout := time.After(within)
	for {
		t.mu.Lock()
		from := max(0, int64(len(t.out))-(t.total-mark))
		hit := t.total > mark && ok(t.out[from:])
		changed, exit, err := t.changed, t.exit, t.err
		t.mu.Unlock()
		switch {
		case hit:
			return time.Now(), nil
		case exit != "":
			return time.Time{}, fmt.Errorf("the terminal ended (%s) while waiting for %s", exit, what)
		case err != nil:
			return time.Time{}, fmt.Errorf("the terminal closed (%v) while waiting for %s", err, what)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-timeout:
			return time.Time{}, fmt.Errorf("no %s within %s; the terminal shows: %q", what, within, t.tail(300))
		case <-changed:
		}
	}
}

func (t *termConn) tail(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.out[max(0, len(t.out)-n):])
}

func (t *termConn) send(b []byte) error {
	if err := t.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return fmt.Errorf("type into the terminal: %w", err)
	}
	return nil
}

// typist types at a person's pace: each key after a pause around every
// (±50%), waiting for its echo first, as a person watches the screen.
type typist struct {
	t     *termConn
	every time.Duration
	r     *recorder
	keys  int
}

// line types s and Enter, recording each key's echo. It returns when
// Enter was sent, and the output offset just before it.
func (ty *typist) line(ctx context.Context, s string) (enter time.Time, mark int64, err error) {
	for _, ch := range s {
		if err := ty.pause(ctx); err != nil {
			return time.Time{}, 0, err
		}
		m := ty.t.mark()
		t0 := time.Now()
		if err := ty.t.send([]byte(string(ch))); err != nil {
			return time.Time{}, 0, err
		}
		at, err := ty.t.waitFor(ctx, m, 30*time.Second, fmt.Sprintf("the echo of %q", ch), func([]byte) bool { return true })
		if err != nil {
			return time.Time{}, 0, err
		}
		ty.r.latency(latEcho, at.Sub(t0))
		ty.keys++
	}
	if err := ty.pause(ctx); err != nil {
		return time.Time{}, 0, err
	}
	mark = ty.t.mark()
	enter = time.Now()
	return enter, mark, ty.t.send([]byte("\r"))
}

func (ty *typist) pause(ctx context.Context) error {
	d := time.Duration(float64(ty.every) * (0.5 + rand.Float64()))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// heredoc finds the delimiters of here-documents a line opens.
var heredoc = regexp.MustCompile(`<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)`)

// commands splits a shell script into what a learner types before waiting
// for the prompt: each command line with its continuation lines (a trailing
// backslash) and the bodies of the here-documents it opens. Blank lines
// outside here-documents are dropped.
func commands(script string) [][]string {
	var out [][]string
	var cur []string
	var pending []string // here-document delimiters still open, in order
	cont := false
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		switch {
		case len(pending) > 0:
			cur = append(cur, line)
			if strings.TrimLeft(line, "\t") == pending[0] {
				pending = pending[1:]
			}
		case strings.TrimSpace(line) == "" && !cont:
			continue
		default:
			cur = append(cur, line)
			for _, m := range heredoc.FindAllStringSubmatch(line, -1) {
				pending = append(pending, m[2])
			}
			cont = strings.HasSuffix(line, "\\")
		}
		if len(pending) == 0 && !cont && len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// ansi matches terminal control sequences: CSI (colours, cursor moves,
// bracketed paste), OSC (window titles) and two-byte escapes.
var ansi = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])`)

// endsWith reports whether the screen's text (control sequences left
// out) ends with suffix: the shell waits there for input.
func endsWith(out []byte, suffix string) bool {
	return bytes.HasSuffix(ansi.ReplaceAll(out, nil), []byte(suffix))
}

// promptAfter reports whether the shell shows its prompt, which ends in
// "$ " whatever PS1 says before it (the learner's user is not root).
func promptAfter(out []byte) bool { return endsWith(out, "$ ") }

// continuationAfter reports whether the shell asks for the rest of a
// command (PS2, a here-document's next line).
func continuationAfter(out []byte) bool { return endsWith(out, "> ") }
