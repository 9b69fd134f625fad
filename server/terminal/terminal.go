// Package terminal bridges browser websockets to long-lived shell processes
// (PTYs). It owns the wire protocol, the per-terminal output ring buffer
// that makes reconnects lossless, flow control, and the lifetime of every
// live terminal. It knows nothing of Kubernetes, HTTP routing or
// authentication: the caller authenticates and checks ownership before it
// upgrades the connection and hands it to Terminal.Serve.
//
// # Protocol
//
// Binary frames carry raw terminal bytes in both directions. Text frames
// carry JSON control messages, one object per frame, told apart by "type".
//
// Client to server:
//
//	{"type":"hello","offset":N}          first frame: N = output bytes the client already has
//	{"type":"resize","cols":C,"rows":R}  whenever the size changes (read-write clients only)
//
// Server to client:
//
//	{"type":"resume","offset":S,"live":L}
//	                               the next binary byte is output byte S; S < N means the
//	                               terminal was restarted (the client should reset its
//	                               screen), S > N that output was dropped. Bytes S..L
//	                               are replay, output from before this attach; live
//	                               output starts at byte L (L >= S)
//	{"type":"info","message":"…"}  something worth showing, e.g. dropped output
//	{"type":"exit","reason":"…"}   the terminal is gone; a close frame follows
//
// A client that has nothing yet sends offset 0. The server replays the
// output from the requested offset while its ring buffer still holds it and
// says so when it does not. Input from read-only clients is ignored.
//
// Replay must be inert: it holds the queries programs sent to the terminal
// (device attributes, cursor position, colours…) that were answered, if at
// all, when they were live. A client answering them again would type the answers
// into whatever reads the terminal now, usually the shell's prompt. So a
// client sends no input that arises while its terminal emulator parses
// bytes below L (keys typed in that moment after attaching are dropped
// too: xterm.js does not tell its answers from typing). A client that
// does not know "live", or a server that does not send it, filters nothing.
//
// # Flow control
//
// Output goes into one ring buffer per terminal; each attached client has
// only a cursor into it, so memory does not grow with slow clients. The
// reader of the process stops when a read-write client is a whole ring
// behind (the process then blocks on its PTY, exactly like a slow local
// terminal), and a write that stalls for longer than the write timeout drops
// that client. Read-only viewers never hold the process back: when they fall
// a ring behind they skip ahead and are told so.
package terminal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Process is a running interactive program behind a PTY: reads return its
// output, writes are its input. Read returns an error once the program has
// exited and its output is drained. Implementations: the jailed local shell
// (sandbox/jail) and the workspace pod exec (sandbox/podshell).
type Process interface {
	io.ReadWriter
	// Resize sets the terminal window size.
	Resize(cols, rows uint16) error
	// Close kills the program and releases the PTY; later reads fail.
	Close() error
	// Wait blocks until the program has exited and reports how it ended.
	Wait() error
}

// ErrClosed is returned by Manager.Open after Shutdown.
var ErrClosed = errors.New("terminal manager is shut down")

// Options configures a Manager. Zero values pick the defaults.
type Options struct {
	Log *slog.Logger
	// BufferSize is the output ring per terminal (default 1 MiB, at least 256 KiB).
	BufferSize int
	// Grace keeps a terminal alive after its last client left (default 10 minutes).
	Grace time.Duration
	// IdleTimeout closes a terminal that received no input for this long
	// (default 1 hour).
	IdleTimeout time.Duration
	// MaxClients caps the connections attached to one terminal (default 8).
	MaxClients int
	// PingInterval is how often clients are pinged (default 20 s); a client
	// that sends nothing, not even a pong, for 3 intervals is dropped.
	PingInterval time.Duration
	// WriteTimeout drops a client whose single write stalls this long (default 10 s).
	WriteTimeout time.Duration
	// HelloTimeout drops a client that does not send hello in time (default 10 s).
	HelloTimeout time.Duration
}

const (
	minBufferSize = 256 << 10
	chunkSize     = 32 << 10 // one read from the process, one binary frame
	maxFrameSize  = 64 << 10 // the largest frame a client may send (a big paste)
	maxCols       = 1000
	maxRows       = 500
)

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BufferSize == 0 {
		o.BufferSize = 1 << 20
	}
	o.BufferSize = max(o.BufferSize, minBufferSize)
	if o.Grace == 0 {
		o.Grace = 10 * time.Minute
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = time.Hour
	}
	if o.MaxClients == 0 {
		o.MaxClients = 8
	}
	if o.PingInterval == 0 {
		o.PingInterval = 20 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.HelloTimeout == 0 {
		o.HelloTimeout = 10 * time.Second
	}
}

// Manager keeps every live terminal, keyed by an opaque key (the session
// id), so that a reconnect finds the same shell. It is safe for concurrent use.
type Manager struct {
	opts   Options
	life   context.Context // every terminal's lifetime; cancelled by Shutdown
	cancel context.CancelFunc

	mu     sync.Mutex
	terms  map[string]*entry
	closed bool
	reason string
	wg     sync.WaitGroup // live terminals and Serve calls
}

// entry lets concurrent Opens for one key start one process.
type entry struct {
	ready chan struct{} // closed once term or err is set
	term  *Terminal
	err   error
}

// NewManager returns a Manager with no terminals.
func NewManager(opts Options) *Manager {
	opts.defaults()
	life, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, life: life, cancel: cancel, terms: map[string]*entry{}}
}

// Open returns the live terminal for key, or starts one with start. start
// gets a context that lives as long as the terminal (not ctx, which only
// bounds the wait for a start already under way by another caller).
func (m *Manager) Open(ctx context.Context, key string, start func(ctx context.Context) (Process, error)) (*Terminal, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		e, ok := m.terms[key]
		if !ok {
			e = &entry{ready: make(chan struct{})}
			m.terms[key] = e
			m.wg.Add(1)
			m.mu.Unlock()
			m.start(key, e, start)
			if e.err != nil {
				return nil, e.err
			}
			return e.term, nil
		}
		m.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil && !e.term.exited() {
			return e.term, nil
		}
		// The other start failed or that terminal just ended: try again.
		m.remove(key, e)
	}
}

func (m *Manager) start(key string, e *entry, start func(ctx context.Context) (Process, error)) {
	defer close(e.ready)
	ctx, cancel := context.WithCancel(m.life)
	p, err := start(ctx)
	if err != nil {
		cancel()
		e.err = fmt.Errorf("start terminal: %w", err)
		m.remove(key, e)
		m.wg.Done()
		return
	}
	t := newTerminal(m, key, p, cancel)
	e.term = t
	go func() {
		defer m.wg.Done()
		t.run(ctx)
		m.remove(key, e)
	}()
}

func (m *Manager) remove(key string, e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.terms[key] == e {
		delete(m.terms, key)
	}
}

// Get returns the live terminal for key without starting one, e.g. for a
// read-only viewer.
func (m *Manager) Get(key string) (*Terminal, bool) {
	m.mu.Lock()
	e, ok := m.terms[key]
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	<-e.ready
	if e.err != nil || e.term.exited() {
		return nil, false
	}
	return e.term, true
}

// Close ends the terminal for key, if any, and tells its clients reason.
func (m *Manager) Close(key, reason string) {
	m.mu.Lock()
	e, ok := m.terms[key]
	m.mu.Unlock()
	if !ok {
		return
	}
	<-e.ready
	if e.term != nil {
		e.term.Close(reason)
	}
}

// Len is the number of live terminals.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.terms)
}

// Shutdown closes every terminal, telling its clients reason, and waits
// until their processes have ended and their connections are closed, or
// ctx ends. Open fails with ErrClosed afterwards.
func (m *Manager) Shutdown(ctx context.Context, reason string) error {
	m.mu.Lock()
	m.closed = true
	m.reason = reason
	var entries []*entry
	for _, e := range m.terms {
		entries = append(entries, e)
	}
	m.mu.Unlock()
	for _, e := range entries {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return fmt.Errorf("shut down terminals: %w", ctx.Err())
		}
		if e.term != nil {
			e.term.Close(reason)
		}
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		m.cancel()
		return nil
	case <-ctx.Done():
		m.cancel()
		return fmt.Errorf("shut down terminals: %w", ctx.Err())
	}
}

// Terminal is one live process with its output ring and attached clients.
type Terminal struct {
	m      *Manager
	key    string
	p      Process
	log    *slog.Logger
	cancel context.CancelFunc

	inMu sync.Mutex // serializes input and resizes from several clients

	mu        sync.Mutex
	cond      *sync.Cond // signalled when a client advances or leaves, or on close
	ring      *ring
	clients   map[*client]struct{}
	done      chan struct{} // closed when the process has ended and the ring is final
	reason    string        // why it ended; set before done is closed
	closing   bool          // Close was called
	lastInput time.Time
	grace     *time.Timer
	idle      *time.Timer
}

func newTerminal(m *Manager, key string, p Process, cancel context.CancelFunc) *Terminal {
	t := &Terminal{
		m: m, key: key, p: p, cancel: cancel,
		log:       m.opts.Log.With("terminal", key),
		ring:      newRing(m.opts.BufferSize),
		clients:   map[*client]struct{}{},
		done:      make(chan struct{}),
		lastInput: time.Now(),
	}
	t.cond = sync.NewCond(&t.mu)
	// A terminal nobody attaches to must not live forever.
	t.grace = time.AfterFunc(m.opts.Grace, t.graceExpired)
	t.idle = time.AfterFunc(m.opts.IdleTimeout, t.idleCheck)
	return t
}

// Process is the program the terminal runs.
func (t *Terminal) Process() Process { return t.p }

// Done is closed when the terminal has ended.
func (t *Terminal) Done() <-chan struct{} { return t.done }

// Reason says why the terminal ended; empty while it runs.
func (t *Terminal) Reason() string {
	select {
	case <-t.done:
		return t.reason
	default:
		return ""
	}
}

func (t *Terminal) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.closing
	}
}

// Close kills the process and tells every client reason. It does not wait.
func (t *Terminal) Close(reason string) {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return
	}
	t.closing = true
	t.reason = reason
	t.cond.Broadcast()
	t.mu.Unlock()
	if err := t.p.Close(); err != nil {
		t.log.Warn("close terminal process", "err", err)
	}
}

func (t *Terminal) graceExpired() {
	t.mu.Lock()
	n := len(t.clients)
	t.mu.Unlock()
	if n == 0 {
		t.Close(fmt.Sprintf("no client attached for %s", t.m.opts.Grace))
	}
}

func (t *Terminal) idleCheck() {
	t.mu.Lock()
	since := time.Since(t.lastInput)
	t.mu.Unlock()
	if since >= t.m.opts.IdleTimeout {
		t.Close(fmt.Sprintf("idle for %s", t.m.opts.IdleTimeout))
		return
	}
	t.idle.Reset(t.m.opts.IdleTimeout - since)
}

// run pumps the process output into the ring until the process ends.
func (t *Terminal) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { t.Close("terminal manager stopped") })
	defer stop()
	buf := make([]byte, chunkSize)
	var readErr error
	for {
		if !t.waitForRoom(len(buf)) {
			break
		}
		n, err := t.p.Read(buf)
		if n > 0 {
			t.mu.Lock()
			t.ring.write(buf[:n])
			for c := range t.clients {
				c.wake()
			}
			t.mu.Unlock()
		}
		if err != nil {
			readErr = err
			break
		}
	}
	// The shell ended by itself unless the manager's stop already closed
	// it: disarm that before t.cancel below fires it, or the reason would
	// race between the two.
	stop()
	_ = t.p.Close()
	waitErr := t.p.Wait()
	t.grace.Stop()
	t.idle.Stop()
	t.cancel()
	t.mu.Lock()
	if !t.closing {
		t.closing = true
		switch {
		case waitErr != nil:
			t.reason = "shell exited: " + waitErr.Error()
		default:
			t.reason = "shell exited"
		}
	}
	close(t.done)
	t.cond.Broadcast()
	t.mu.Unlock()
	t.log.Info("terminal ended", "reason", t.reason, "read_err", readErr, "bytes", t.ring.end)
}

// waitForRoom blocks while reading n more bytes would overwrite output a
// read-write client has not been sent yet. It reports false once the
// terminal is closing.
func (t *Terminal) waitForRoom(n int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.closing {
			return false
		}
		limit := t.ring.end + int64(n) - int64(t.ring.size)
		blocked := false
		for c := range t.clients {
			if !c.readOnly && c.started && c.pos < limit {
				blocked = true
				break
			}
		}
		if !blocked {
			return true
		}
		t.cond.Wait()
	}
}

// input writes client input to the process.
func (t *Terminal) input(p []byte) error {
	t.mu.Lock()
	t.lastInput = time.Now()
	t.mu.Unlock()
	t.inMu.Lock()
	defer t.inMu.Unlock()
	_, err := t.p.Write(p)
	return err
}

func (t *Terminal) resize(cols, rows uint16) error {
	t.inMu.Lock()
	defer t.inMu.Unlock()
	return t.p.Resize(cols, rows)
}

// attach registers a client; it fails when the terminal is full or ended.
func (t *Terminal) attach(c *client) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return errors.New(t.reason)
	}
	if len(t.clients) >= t.m.opts.MaxClients {
		return fmt.Errorf("too many connections to this terminal (%d)", t.m.opts.MaxClients)
	}
	t.clients[c] = struct{}{}
	t.grace.Stop()
	return nil
}

func (t *Terminal) detach(c *client) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, c)
	t.cond.Broadcast()
	if len(t.clients) == 0 && !t.closing {
		t.grace.Reset(t.m.opts.Grace)
	}
}
