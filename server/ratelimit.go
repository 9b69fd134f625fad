package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"time"
)

// Failed log-ins allowed per window. A browser that has logged in to an
// account before carries a device cookie for it and is counted on its own
// (OWASP's device cookies): guessing from elsewhere locks out only other
// unknown clients, never the owner's browser. The per-IP bound is loose
// because a workshop's learners often share one address.
const (
	loginWindow     = 15 * time.Minute
	maxFailsAccount = 5   // unknown clients, per account
	maxFailsDevice  = 5   // a known device, per device
	maxFailsIP      = 100 // unknown clients, per address
	deviceCookie    = "kubelab_device"
	deviceLifetime  = 365 * 24 * time.Hour
)

// loginLimiter counts recent failed log-ins in memory. It is per process on
// purpose: it slows password guessing, it is not an audit log. Device
// cookies are signed with a per-process key, so a restart makes every
// browser unknown again (stricter, never looser).
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	now   func() time.Time
	key   []byte
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{fails: map[string][]time.Time{}, now: time.Now, key: []byte(rand.Text())}
}

// loginAttempt names who is trying: the account, the client address and
// the device id of a valid device cookie for this account ("" if none).
type loginAttempt struct {
	email, ip, device string
}

func (a loginAttempt) limits() map[string]int {
	if a.device != "" {
		return map[string]int{"d:" + a.device: maxFailsDevice}
	}
	return map[string]int{"a:" + a.email: maxFailsAccount, "ip:" + a.ip: maxFailsIP}
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
func (l *loginLimiter) blocked(a loginAttempt) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for key, max := range a.limits() {
		if ts := l.recent(key); len(ts) >= max {
			if w := ts[len(ts)-max].Add(loginWindow).Sub(l.now()); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (l *loginLimiter) fail(a loginAttempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for key := range a.limits() {
		l.fails[key] = append(l.recent(key), now)
	}
	if len(l.fails) > 100_000 { // bound memory under a spray of addresses
		for k := range l.fails {
			l.recent(k)
		}
	}
}

// succeed forgets a known device's failures once its owner gets in. An
// account's count from unknown clients stays: the owner logging in must not
// hand a guesser a fresh allowance.
func (l *loginLimiter) succeed(a loginAttempt) {
	if a.device == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "d:"+a.device)
}

// newDevice returns a device cookie value for email: id.signature.
func (l *loginLimiter) newDevice(email string) string {
	id := rand.Text()
	return id + "." + l.sign(email, id)
}

// device returns the id of a device cookie value if it is valid for email.
func (l *loginLimiter) device(email, cookie string) string {
	id, sig, ok := strings.Cut(cookie, ".")
	if !ok || id == "" || !hmac.Equal([]byte(sig), []byte(l.sign(email, id))) {
		return ""
	}
	return id
}

func (l *loginLimiter) sign(email, id string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(email + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
