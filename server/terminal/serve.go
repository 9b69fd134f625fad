package terminal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// client is one attached websocket connection.
type client struct {
	readOnly bool
	notify   chan struct{} // new output or a state change; capacity 1

	// Guarded by Terminal.mu.
	started bool  // hello received; pos is meaningful
	pos     int64 // next output offset to send
}

func (c *client) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// control is every JSON control message, both directions.
type control struct {
	Type    string `json:"type"`
	Offset  *int64 `json:"offset,omitempty"`
	Live    *int64 `json:"live,omitempty"`
	Cols    *int   `json:"cols,omitempty"`
	Rows    *int   `json:"rows,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// protocolError ends a connection for something the client sent.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "protocol error: " + e.msg }

// Serve attaches ws to the terminal until the client leaves, the terminal
// ends or ctx ends, then closes ws. A read-only client sees the output but
// its input and resizes are ignored. Serve returns nil when the client left
// normally or the terminal ended, else why the connection broke.
func (t *Terminal) Serve(ctx context.Context, ws *websocket.Conn, readOnly bool) error {
	m := t.m
	m.wg.Add(1)
	defer m.wg.Done()
	defer ws.Close()
	s := &session{t: t, ws: ws, c: &client{readOnly: readOnly, notify: make(chan struct{}, 1)},
		hello: make(chan int64, 1), opts: &m.opts}
	if err := t.attach(s.c); err != nil {
		s.writeJSON(control{Type: "exit", Reason: err.Error()})
		s.closeWith(websocket.CloseTryAgainLater, err.Error())
		return nil
	}
	defer t.detach(s.c)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws.SetReadLimit(maxFrameSize)
	pongWait := 3 * m.opts.PingInterval
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })

	readErr := make(chan error, 1)
	go func() {
		err := s.readLoop(pongWait)
		readErr <- err
		cancel()
	}()
	go s.pingLoop(ctx)

	err := s.writeLoop(ctx)
	cancel()
	// The read loop only ends when the socket does; closing it unblocks it.
	var rerr error
	select {
	case rerr = <-readErr:
	case <-time.After(time.Second):
		// Give the peer a moment to answer our close frame, then cut it.
		_ = ws.Close()
		rerr = <-readErr
	}
	var perr *protocolError
	if errors.As(rerr, &perr) {
		return perr
	}
	if err != nil {
		return err
	}
	if rerr != nil && !isNormalClose(rerr) {
		return rerr
	}
	return nil
}

// session is the state of one Serve call.
type session struct {
	t     *Terminal
	ws    *websocket.Conn
	c     *client
	opts  *Options
	hello chan int64

	wmu sync.Mutex // the one writer
}

func isNormalClose(err error) bool {
	return websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived)
}

// readLoop reads client frames until the connection fails or a frame is
// hostile. It is the only reader of ws.
func (s *session) readLoop(pongWait time.Duration) error {
	var (
		helloSeen   bool
		resizeCount int
		resizeSince = time.Now()
	)
	for {
		typ, data, err := s.ws.ReadMessage()
		if err != nil {
			return err
		}
		// Any frame proves the client alive, even when the process made
		// us wait on a full PTY input buffer before reading the next.
		_ = s.ws.SetReadDeadline(time.Now().Add(pongWait))
		switch typ {
		case websocket.BinaryMessage:
			if s.c.readOnly || len(data) == 0 {
				continue
			}
			if err := s.t.input(data); err != nil {
				return fmt.Errorf("write terminal input: %w", err)
			}
		case websocket.TextMessage:
			var msg control
			if err := json.Unmarshal(data, &msg); err != nil {
				return s.refuse("control frame is not JSON")
			}
			switch msg.Type {
			case "hello":
				if helloSeen {
					return s.refuse("second hello")
				}
				helloSeen = true
				off := int64(0)
				if msg.Offset != nil {
					off = *msg.Offset
				}
				if off < 0 {
					return s.refuse("negative offset")
				}
				s.hello <- off
			case "resize":
				if msg.Cols == nil || msg.Rows == nil || *msg.Cols < 1 || *msg.Rows < 1 || *msg.Cols > maxCols || *msg.Rows > maxRows {
					return s.refuse("resize out of range")
				}
				// A browser resizes a few times a second at most while a
				// window is dragged; hundreds a second is an attack.
				if time.Since(resizeSince) > time.Second {
					resizeCount, resizeSince = 0, time.Now()
				}
				resizeCount++
				if resizeCount > 50 {
					return s.refuse("too many resizes")
				}
				if s.c.readOnly {
					continue
				}
				if err := s.t.resize(uint16(*msg.Cols), uint16(*msg.Rows)); err != nil {
					s.t.log.Warn("resize terminal", "err", err)
				}
			default:
				return s.refuse(fmt.Sprintf("unknown control type %.32q", msg.Type))
			}
		}
	}
}

// refuse tells a misbehaving client why it is cut off.
func (s *session) refuse(msg string) error {
	err := &protocolError{msg: msg}
	s.closeWith(websocket.ClosePolicyViolation, err.Error())
	return err
}

// closeWith sends a close frame; safe from any goroutine.
func (s *session) closeWith(code int, reason string) {
	if len(reason) > 123 { // a close frame's payload is at most 125 bytes
		reason = reason[:120] + "..."
	}
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(time.Second))
}

func (s *session) pingLoop(ctx context.Context) {
	tick := time.NewTicker(s.opts.PingInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.opts.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

func (s *session) write(typ int, p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	return s.ws.WriteMessage(typ, p)
}

func (s *session) writeJSON(msg control) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.write(websocket.TextMessage, b)
}

// writeLoop waits for hello, then streams output from the ring until the
// terminal ends (it then sends exit), ctx ends, or a write fails.
func (s *session) writeLoop(ctx context.Context) error {
	t, c := s.t, s.c
	timer := time.NewTimer(s.opts.HelloTimeout)
	defer timer.Stop()
	var want int64
	select {
	case want = <-s.hello:
	case <-timer.C:
		s.closeWith(websocket.ClosePolicyViolation, "protocol error: no hello")
		return &protocolError{msg: "no hello"}
	case <-ctx.Done():
		return s.finish(ctx)
	case <-t.done:
		return s.finish(ctx)
	}

	t.mu.Lock()
	start, end := t.ring.start(), t.ring.end
	pos := want
	var info string
	switch {
	case want > end:
		pos = start // a different (restarted) terminal: send what we have
	case want < start:
		pos = start
		info = fmt.Sprintf("output before byte %d was dropped", start)
	}
	c.pos, c.started = pos, true
	t.mu.Unlock()
	if err := s.writeJSON(control{Type: "resume", Offset: &pos, Live: &end}); err != nil {
		return err
	}
	if info != "" {
		if err := s.writeJSON(control{Type: "info", Message: info}); err != nil {
			return err
		}
	}

	buf := make([]byte, chunkSize)
	for {
		t.mu.Lock()
		if c.pos < t.ring.start() {
			// Only a read-only client can fall this far behind.
			skipped := t.ring.start()
			c.pos = skipped
			t.mu.Unlock()
			msg := fmt.Sprintf("output before byte %d was dropped (this viewer was too slow)", skipped)
			if err := s.writeJSON(control{Type: "info", Message: msg}); err != nil {
				return err
			}
			continue
		}
		n := t.ring.read(c.pos, buf)
		ended := t.closing
		t.mu.Unlock()
		if n > 0 {
			if err := s.write(websocket.BinaryMessage, buf[:n]); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			t.mu.Lock()
			c.pos += int64(n)
			t.cond.Broadcast()
			t.mu.Unlock()
			continue
		}
		if ended {
			// Drain until the process has really ended, so the last
			// words of a shell that exited reach the client.
			select {
			case <-t.done:
				t.mu.Lock()
				more := c.pos < t.ring.end
				t.mu.Unlock()
				if more {
					continue
				}
				return s.finish(ctx)
			case <-c.notify:
				continue
			case <-ctx.Done():
				return s.finish(ctx)
			}
		}
		select {
		case <-c.notify:
		case <-t.done:
		case <-ctx.Done():
			return s.finish(ctx)
		}
	}
}

// finish sends the exit message and a close frame.
func (s *session) finish(ctx context.Context) error {
	reason := ""
	select {
	case <-s.t.done:
		reason = s.t.reason
	default:
		if ctx.Err() == nil {
			break
		}
		s.t.m.mu.Lock()
		reason = s.t.m.reason
		s.t.m.mu.Unlock()
		if reason == "" {
			// The client went away or the request was cancelled: no
			// one to tell.
			return nil
		}
	}
	if reason == "" {
		reason = "terminal closed"
	}
	if err := s.writeJSON(control{Type: "exit", Reason: reason}); err != nil {
		return nil
	}
	s.closeWith(websocket.CloseNormalClosure, reason)
	return nil
}

// Upgrader returns a websocket upgrader that accepts the requests
// checkOrigin allows (the server's same-origin rule).
func Upgrader(checkOrigin func(*http.Request) bool) *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
		// Buffers are borrowed only while a frame is written, so idle
		// terminals hold none.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     checkOrigin,
	}
}
