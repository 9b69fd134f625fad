package server

import (
	"sync"
	"time"
)

// Failed log-ins allowed per window, per account and per client IP. The
// per-IP bound is looser because several learners of a workshop often share
// one address.
const (
	loginWindow     = 15 * time.Minute
	maxFailsAccount = 5
	maxFailsIP      = 30
)

// loginLimiter counts recent failed log-ins in memory. It is per process on
// purpose: it slows password guessing, it is not an audit log.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	now   func() time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{fails: map[string][]time.Time{}, now: time.Now}
}

// recent drops entries older than the window and returns what is left.
func (l *loginLimiter) recent(key string) []time.Time {
	cut := l.now().Add(-loginWindow)
	ts := l.fails[key]
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
	} else {
		l.fails[key] = ts
	}
	return ts
}

// blocked returns how long the caller must wait, or 0.
func (l *loginLimiter) blocked(email, ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for key, max := range map[string]int{"a:" + email: maxFailsAccount, "ip:" + ip: maxFailsIP} {
		if ts := l.recent(key); len(ts) >= max {
			if w := ts[len(ts)-max].Add(loginWindow).Sub(l.now()); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (l *loginLimiter) fail(email, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, key := range []string{"a:" + email, "ip:" + ip} {
		l.fails[key] = append(l.recent(key), now)
	}
	if len(l.fails) > 100_000 { // bound memory under a spray of addresses
		for k := range l.fails {
			l.recent(k)
		}
	}
}

// succeed forgets an account's failures once its owner gets in.
func (l *loginLimiter) succeed(email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "a:"+email)
}
