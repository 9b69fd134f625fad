package terminal_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/server/terminal"
)

// FuzzControlFrames sends two text (control) frames and one binary frame
// of any content to a live terminal. The server must neither panic nor
// close with anything but a normal close, a policy refusal (1008) or a
// too-big refusal (1009); valid frames keep the connection open.
func FuzzControlFrames(f *testing.F) {
	// Not startPTY: the harness starts the process inside the fuzz target,
	// where f may not be used.
	h := newHarness(f, terminal.Options{}, func() (terminal.Process, error) {
		cmd := exec.Command("/bin/cat")
		p, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
		if err != nil {
			return nil, err
		}
		return &ptyProcess{cmd: cmd, f: p}, nil
	})
	for _, seed := range []struct{ first, second string }{
		{`{"type":"hello","offset":0}`, `{"type":"resize","cols":80,"rows":24}`},
		{`{"type":"hello","offset":0}`, `{"type":"hello","offset":0}`},
		{`{"type":"hello","offset":-1}`, ``},
		{`{"type":"hello","offset":9223372036854775807}`, `{"type":"resize","cols":0,"rows":24}`},
		{`{"type":"hello","offset":1e300}`, `{"type":"resize","cols":100000,"rows":1}`},
		{`{"type":"resize","cols":null,"rows":24}`, `{"type":"hello"}`},
		{`{"type":"nope"}`, `not json`},
		{`[]`, `{"type":"hello","offset":"0"}`},
	} {
		f.Add(seed.first, seed.second, []byte("echo hi\n"))
	}
	url := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/term?key=fuzz"
	f.Fuzz(func(t *testing.T, first, second string, input []byte) {
		ws, res, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		res.Body.Close()
		defer ws.Close()
		for _, m := range []struct {
			typ  int
			data []byte
		}{{websocket.TextMessage, []byte(first)}, {websocket.TextMessage, []byte(second)}, {websocket.BinaryMessage, input}} {
			if err := ws.WriteMessage(m.typ, m.data); err != nil {
				return // the server closed already: read why below? it is gone; that is allowed
			}
		}
		_ = ws.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseNormalClosure && ce.Code != websocket.ClosePolicyViolation &&
				ce.Code != websocket.CloseMessageTooBig && ce.Code != websocket.CloseGoingAway {
				t.Errorf("server closed with %d %q", ce.Code, ce.Text)
			}
			return
		}
	})
}
