package server

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kubelab/kubelab/sandbox"
)

// These tests are the attacks of issue 11 on anonymous entry points, login
// sessions and log-in throttling, run against the real server stack.

// TestClaimedGuestCookieIsDead: whoever else holds a guest's cookie (a
// shared workshop PC, a planted cookie) loses it when the guest signs up.
func TestClaimedGuestCookieIsDead(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	learner := ts.client(t)
	if res, body := learner.do(t, "POST", "/api/v1/auth/guest", nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("guest: %d %s", res.StatusCode, body)
	}
	planted := learner.cookie(t, sessionCookie)
	attacker := ts.client(t)
	attacker.setCookie(t, sessionCookie, planted)
	if res, body := attacker.do(t, "GET", "/api/v1/me", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the planted guest cookie before the claim: %d %s", res.StatusCode, body)
	}
	if res, body := learner.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "claire@example.com", "password": "a good password"}); res.StatusCode != http.StatusCreated {
		t.Fatalf("claim: %d %s", res.StatusCode, body)
	}
	if fresh := learner.cookie(t, sessionCookie); fresh == planted {
		t.Error("the claim kept the guest's cookie; want a fresh one")
	}
	if res, body := attacker.do(t, "GET", "/api/v1/me", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the guest's old cookie after the claim: %d %s, want 401", res.StatusCode, body)
	}
	res, body := learner.do(t, "GET", "/api/v1/me", nil)
	var me userJSON
	mustUnmarshal(t, body, &me)
	if res.StatusCode != http.StatusOK || me.Email != "claire@example.com" {
		t.Errorf("the claimant after the claim: %d %s", res.StatusCode, body)
	}
}

// TestSignupFloodIsBounded: 100 parallel sign-ups from one address get at
// most the per-address burst through (the rest 429 with Retry-After), and
// no more than the password workers hash at once.
func TestSignupFloodIsBounded(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	burst := EntryLimits{}.withDefaults().PerIPBurst
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			c := ts.client(t)
			res, _ := c.do(t, "POST", "/api/v1/auth/signup", map[string]string{
				"email": fmt.Sprintf("flood%d@example.com", i), "password": "a good password"})
			mu.Lock()
			defer mu.Unlock()
			statuses[res.StatusCode]++
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
	wg.Wait()
	if statuses[http.StatusCreated] > burst || statuses[http.StatusCreated]+statuses[http.StatusTooManyRequests] != 100 {
		t.Errorf("statuses of 100 parallel sign-ups: %v, want at most %d created and the rest 429", statuses, burst)
	}
	if peak, slots := ts.srv.passwords.peak.Load(), int64(cap(ts.srv.passwords.slots)); peak > slots {
		t.Errorf("%d passwords hashed at once, want at most %d", peak, slots)
	}
}

// TestGuestFloodFromManyAddressesIsBounded: spreading guest creation over
// addresses (behind a trusted proxy) still meets the global bound.
func TestGuestFloodFromManyAddressesIsBounded(t *testing.T) {
	t.Parallel()
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	ts := newTestStack(t, func(_ *sandbox.ManagerOptions, o *Options) {
		o.TrustedProxies = []*net.IPNet{loopback}
		o.EntryLimits = EntryLimits{PerIPBurst: 2, PerIPEvery: time.Hour, GlobalBurst: 10, GlobalEvery: time.Hour}
	})
	created := 0
	for i := range 30 {
		c := ts.client(t)
		res, body := c.raw(t, "POST", "/api/v1/auth/guest", "", map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i/2)})
		switch res.StatusCode {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("guest %d: %d %s", i, res.StatusCode, body)
		}
	}
	if created != 10 {
		t.Errorf("%d guests created from 15 addresses, want the global burst of 10", created)
	}
	// One address alone meets its own bound first.
	for i := range 3 {
		res, _ := ts.client(t).raw(t, "POST", "/api/v1/auth/guest", "", map[string]string{"X-Forwarded-For": "203.0.113.7"})
		if res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("guest %d from a fresh address after the global burst: %d, want 429", i, res.StatusCode)
		}
	}
}

// TestGuessingCannotLockOutTheOwner: failed guesses from anywhere (even the
// owner's own address, as in a workshop) lock out unknown clients, never the
// browser the owner logged in with before.
func TestGuessingCannotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	owner := ts.client(t)
	creds := map[string]string{"email": "owner@example.com", "password": "the real password"}
	if res, body := owner.do(t, "POST", "/api/v1/auth/signup", creds); res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	if res, body := owner.do(t, "POST", "/api/v1/auth/login", creds); res.StatusCode != http.StatusOK {
		t.Fatalf("first login: %d %s", res.StatusCode, body)
	}
	owner.do(t, "POST", "/api/v1/auth/logout", nil)

	attacker := ts.client(t)
	locked := false
	for i := range maxFailsIP + 5 {
		res, _ := attacker.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "owner@example.com", "password": fmt.Sprintf("guess %d", i)})
		if res.StatusCode == http.StatusTooManyRequests {
			locked = true
		}
	}
	if !locked {
		t.Fatal("an unknown client guessed without limit")
	}
	if res, _ := attacker.do(t, "POST", "/api/v1/auth/login", creds); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password from the guessing client: %d, want 429 (guesses stay bounded)", res.StatusCode)
	}
	if res, body := owner.do(t, "POST", "/api/v1/auth/login", creds); res.StatusCode != http.StatusOK {
		t.Errorf("the owner's own browser after the guessing: %d %s, want 200", res.StatusCode, body)
	}
}

// TestGuestsCannotTakeEverySandbox: guests fill their share, then are told
// to sign up; a registered learner still gets a sandbox.
func TestGuestsCannotTakeEverySandbox(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, func(m *sandbox.ManagerOptions, _ *Options) { m.MaxTotal, m.MaxGuests = 4, 2 })
	start := func(c *testClient) (*http.Response, []byte) {
		return c.do(t, "POST", "/api/v1/chapters/pods/session", nil)
	}
	for i := range 3 {
		g := ts.client(t)
		if res, body := g.do(t, "POST", "/api/v1/auth/guest", nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("guest %d: %d %s", i, res.StatusCode, body)
		}
		res, body := start(g)
		want := http.StatusAccepted
		if i == 2 {
			want = http.StatusServiceUnavailable
		}
		if res.StatusCode != want {
			t.Fatalf("guest %d starts a chapter: %d %s, want %d", i, res.StatusCode, body, want)
		}
		if i == 2 {
			var e apiError
			mustUnmarshal(t, body, &e)
			if e.Error != errGuestLimit.message {
				t.Errorf("guest over the share is told %q, want %q", e.Error, errGuestLimit.message)
			}
		}
	}
	learner := ts.client(t)
	if res, body := learner.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "reg@example.com", "password": "a good password"}); res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	if res, body := start(learner); res.StatusCode != http.StatusAccepted {
		t.Errorf("a registered learner while guests hold their share: %d %s, want 202", res.StatusCode, body)
	}
}
