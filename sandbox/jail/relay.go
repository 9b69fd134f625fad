package jail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxConns caps the connections one shell may have open to its API server,
// so that a learner cannot exhaust kubelab's file descriptors.
const maxConns = 64

// relayLogEvery spaces a relay's repeated warnings: a learner can open
// and close connections in a loop far faster than anyone can read a log.
const relayLogEvery = 10 * time.Second

// relay serves a shell's API port (a unix socket the jail's forwarder
// reaches, or a port kubelab opened in the jail's network namespace) and
// passes each connection through to the learner's API server, untouched.
type relay struct {
	ln       net.Listener
	upstream string
	slots    chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	refused  *rateLog // too many connections
	dialErr  *rateLog // the API server is unreachable
}

func listenRelay(ctx context.Context, sock, upstream string, log *slog.Logger) (*relay, error) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen on relay socket: %w", err)
	}
	return serveRelay(ctx, ln, upstream, log), nil
}

// serveRelay relays every connection ln accepts to upstream.
func serveRelay(ctx context.Context, ln net.Listener, upstream string, log *slog.Logger) *relay {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &relay{
		ln: ln, upstream: upstream, slots: make(chan struct{}, maxConns), cancel: cancel,
		refused: newRateLog(log, "api relay: too many connections", relayLogEvery),
		dialErr: newRateLog(log, "api relay: dial api server", relayLogEvery),
	}
	r.wg.Add(1)
	go r.serve(ctx)
	return r
}

func (r *relay) serve(ctx context.Context) {
	defer r.wg.Done()
	for {
		c, err := accept(ctx, r.ln)
		if err != nil {
			return
		}
		select {
		case r.slots <- struct{}{}:
		default:
			r.refused.warn("max", maxConns)
			c.Close()
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.slots }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var d net.Dialer
			up, err := d.DialContext(dctx, "tcp", r.upstream)
			cancel()
			if err != nil {
				r.dialErr.warn("err", err)
				c.Close()
				return
			}
			pipe(ctx, c, up)
		}()
	}
}

// close stops accepting and cuts every relayed connection.
func (r *relay) close() {
	r.ln.Close()
	r.cancel()
	r.wg.Wait()
	r.refused.flush()
	r.dialErr.flush()
}

// rateLog writes one warning at most every interval and counts the ones
// it holds back; the next line it writes carries that count.
type rateLog struct {
	log   *slog.Logger
	msg   string
	every time.Duration

	mu         sync.Mutex
	next       time.Time // when the next line may be written
	suppressed int
}

func newRateLog(log *slog.Logger, msg string, every time.Duration) *rateLog {
	return &rateLog{log: log, msg: msg, every: every}
}

// warn logs msg with args, unless a line went out less than every ago.
func (l *rateLog) warn(args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.next = now.Add(l.every)
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Warn(l.msg, args...)
}

// flush logs how many lines were held back since the last one, if any.
func (l *rateLog) flush() {
	l.mu.Lock()
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		l.log.Warn(l.msg, "suppressed", n)
	}
}

// pipe copies both ways until both directions are done or ctx ends.
func pipe(ctx context.Context, a, b net.Conn) {
	stop := context.AfterFunc(ctx, func() {
		a.Close()
		b.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	half := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Pass the end of one direction on, so the other can finish.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	wg.Add(2)
	go half(a, b)
	go half(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// Route is one forwarded port: connections to Listen go to the unix
// socket Socket.
type Route struct {
	Listen, Socket string
}

// ParseRoutes reads the forwarder's arguments: LISTEN-ADDR SOCKET pairs.
func ParseRoutes(args []string) ([]Route, error) {
	if len(args) == 0 || len(args)%2 != 0 {
		return nil, errors.New("want LISTEN-ADDR SOCKET [LISTEN-ADDR SOCKET ...]")
	}
	routes := make([]Route, 0, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		routes = append(routes, Route{Listen: args[i], Socket: args[i+1]})
	}
	return routes, nil
}

// Forward listens on every route's address and relays each connection to
// the route's unix socket until ctx ends. It runs inside the jail (the
// "kubelab forward" subcommand). Once it listens on all of them it writes
// "ready\n" to ready, which the jail waits for before it starts the shell.
func Forward(ctx context.Context, routes []Route, ready io.Writer) error {
	var lc net.ListenConfig
	lns := make([]net.Listener, 0, len(routes))
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, r := range routes {
		ln, err := lc.Listen(ctx, "tcp", r.Listen)
		if err != nil {
			return fmt.Errorf("forward: listen on %s: %w", r.Listen, err)
		}
		lns = append(lns, ln)
	}
	context.AfterFunc(ctx, func() {
		for _, ln := range lns {
			ln.Close()
		}
	})
	// ready stays open: were it stdout and closed, the next connection
	// would get fd 1, and the Go runtime dies of SIGPIPE when a write to
	// fd 1 fails, which a learner's reset connection makes happen.
	if ready != nil {
		if _, err := io.WriteString(ready, readyMessage+"\n"); err != nil {
			return fmt.Errorf("forward: report ready: %w", err)
		}
	}
	var wg sync.WaitGroup
	for i, ln := range lns {
		wg.Go(func() { serveRoute(ctx, ln, routes[i].Socket) })
	}
	wg.Wait()
	return nil
}

// serveRoute relays each connection ln accepts to the unix socket until
// ln closes.
func serveRoute(ctx context.Context, ln net.Listener, socketPath string) {
	for {
		c, err := accept(ctx, ln)
		if err != nil {
			return
		}
		go func() {
			var d net.Dialer
			up, err := d.DialContext(ctx, "unix", socketPath)
			if err != nil {
				c.Close()
				return
			}
			pipe(ctx, c, up)
		}()
	}
}

// accept waits for the next connection. It rides out errors such as
// running out of file descriptors, which a learner can cause, and fails
// only once ln is closed or ctx ends.
func accept(ctx context.Context, ln net.Listener) (net.Conn, error) {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
