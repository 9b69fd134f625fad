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

// relay serves a shell's unix socket outside the jail and passes each
// connection through to the learner's API server, untouched.
type relay struct {
	ln       net.Listener
	upstream string
	log      *slog.Logger
	slots    chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func listenRelay(ctx context.Context, sock, upstream string, log *slog.Logger) (*relay, error) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen on relay socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &relay{ln: ln, upstream: upstream, log: log, slots: make(chan struct{}, maxConns), cancel: cancel}
	r.wg.Add(1)
	go r.serve(ctx)
	return r, nil
}

func (r *relay) serve(ctx context.Context) {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		select {
		case r.slots <- struct{}{}:
		default:
			r.log.Warn("api relay: too many connections", "max", maxConns)
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
				r.log.Warn("api relay: dial api server", "err", err)
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

// Forward listens on listenAddr and relays every connection to the unix
// socket at socketPath until ctx ends. It runs inside the jail (the
// "kubelab forward" subcommand). Once it listens it writes "ready\n" to
// ready, which the jail waits for before it starts the shell.
func Forward(ctx context.Context, listenAddr, socketPath string, ready io.Writer) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listenAddr)
	if err != nil {
		return fmt.Errorf("forward: listen on %s: %w", listenAddr, err)
	}
	defer ln.Close()
	context.AfterFunc(ctx, func() { ln.Close() })
	if ready != nil {
		if _, err := io.WriteString(ready, readyMessage+"\n"); err != nil {
			return fmt.Errorf("forward: report ready: %w", err)
		}
		if c, ok := ready.(io.Closer); ok {
			c.Close()
		}
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("forward: accept: %w", err)
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
