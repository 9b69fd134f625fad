package server

import (
	"context"
	"runtime"
	"sync/atomic"
)

// passwordWork runs password hashing (argon2id, 19 MiB and a core's worth
// of work each) a few at a time: a burst of sign-ups or log-ins queues here
// instead of multiplying the server's memory.
type passwordWork struct {
	slots chan struct{}
	busy  atomic.Int64
	peak  atomic.Int64 // most hashes ever run at once; read by tests
}

func newPasswordWork() *passwordWork {
	return &passwordWork{slots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
}

// do runs fn in a slot, or returns ctx's error if the caller gives up first.
func (w *passwordWork) do(ctx context.Context, fn func()) error {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.slots }()
	n := w.busy.Add(1)
	defer w.busy.Add(-1)
	for p := w.peak.Load(); n > p && !w.peak.CompareAndSwap(p, n); p = w.peak.Load() {
	}
	fn()
	return nil
}

// hash returns the argon2id hash of password.
func (w *passwordWork) hash(ctx context.Context, password string) (string, error) {
	var h string
	err := w.do(ctx, func() { h = HashPassword(password) })
	return h, err
}

// check reports whether password matches encoded.
func (w *passwordWork) check(ctx context.Context, encoded, password string) (bool, error) {
	var ok bool
	err := w.do(ctx, func() { ok = checkPassword(encoded, password) })
	return ok, err
}
