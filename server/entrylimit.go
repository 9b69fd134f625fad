package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// EntryLimits bound how fast anonymous callers may create accounts (sign-up
// and guests): a token bucket per client address and one for everybody.
// Each account costs a password hash or a row, and guests can hold
// sandboxes, so a flood must not take the machine or every slot.
type EntryLimits struct {
	PerIPBurst  int           // default 40: a workshop room behind one address
	PerIPEvery  time.Duration // default 2s: one more token per interval
	GlobalBurst int           // default 120
	GlobalEvery time.Duration // default 200ms
}

func (e EntryLimits) withDefaults() EntryLimits {
	if e.PerIPBurst == 0 {
		e.PerIPBurst = 40
	}
	if e.PerIPEvery == 0 {
		e.PerIPEvery = 2 * time.Second
	}
	if e.GlobalBurst == 0 {
		e.GlobalBurst = 120
	}
	if e.GlobalEvery == 0 {
		e.GlobalEvery = 200 * time.Millisecond
	}
	return e
}

// entryLimiter applies EntryLimits.
type entryLimiter struct {
	limits EntryLimits
	global *rate.Limiter
	now    func() time.Time

	mu    sync.Mutex
	perIP map[string]*rate.Limiter
}

func newEntryLimiter(l EntryLimits) *entryLimiter {
	l = l.withDefaults()
	return &entryLimiter{limits: l, now: time.Now, perIP: map[string]*rate.Limiter{},
		global: rate.NewLimiter(rate.Every(l.GlobalEvery), l.GlobalBurst)}
}

// admit takes a token from ip's bucket and the global one, or returns how
// long to wait (taking nothing).
func (l *entryLimiter) admit(ip string) time.Duration {
	now := l.now()
	l.mu.Lock()
	lim, ok := l.perIP[ip]
	if !ok {
		if len(l.perIP) >= 100_000 {
			l.forgetFull(now)
		}
		lim = rate.NewLimiter(rate.Every(l.limits.PerIPEvery), l.limits.PerIPBurst)
		l.perIP[ip] = lim
	}
	l.mu.Unlock()
	mine := lim.ReserveN(now, 1)
	if d := mine.DelayFrom(now); d > 0 {
		mine.CancelAt(now)
		return d
	}
	all := l.global.ReserveN(now, 1)
	if d := all.DelayFrom(now); d > 0 {
		all.CancelAt(now)
		mine.CancelAt(now)
		return d
	}
	return 0
}

// forgetFull drops the buckets that are full again: they hold no memory of
// their address worth keeping. Called with l.mu held.
func (l *entryLimiter) forgetFull(now time.Time) {
	for ip, lim := range l.perIP {
		if lim.TokensAt(now) >= float64(l.limits.PerIPBurst) {
			delete(l.perIP, ip)
		}
	}
}

// blocked reports how long until ip may try again, taking nothing.
func (l *entryLimiter) blocked(ip string) time.Duration {
	now := l.now()
	l.mu.Lock()
	lim, ok := l.perIP[ip]
	l.mu.Unlock()
	if ok && lim.TokensAt(now) < 1 {
		return time.Duration((1 - lim.TokensAt(now)) * float64(l.limits.PerIPEvery))
	}
	if l.global.TokensAt(now) < 1 {
		return l.limits.GlobalEvery
	}
	return 0
}
