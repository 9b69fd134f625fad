package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSignupLoginLogout(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)

	res, body := c.do(t, "POST", "/api/v1/auth/signup", map[string]string{
		"email": "  Ada@Example.COM ", "password": "correct horse battery", "name": "Ada"})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	var u userJSON
	mustUnmarshal(t, body, &u)
	if diff := cmp.Diff(userJSON{ID: u.ID, Email: "ada@example.com", Name: "Ada", Role: "learner"}, u); diff != "" {
		t.Errorf("signup user mismatch (-want +got):\n%s", diff)
	}
	var ck *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == sessionCookie {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, not Secure on http", ck)
	}

	if res, body := c.do(t, "GET", "/api/v1/me", nil); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "ada@example.com") {
		t.Fatalf("me after signup: %d %s", res.StatusCode, body)
	}
	if res, _ := c.do(t, "POST", "/api/v1/auth/logout", nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := c.do(t, "GET", "/api/v1/me", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d, want 401", res.StatusCode)
	}
	res, body = c.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "ADA@example.com", "password": "correct horse battery"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", res.StatusCode, body)
	}
	if res, _ := c.do(t, "GET", "/api/v1/me", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("me after login: %d", res.StatusCode)
	}
}

func TestAuthBadInput(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	setup := ts.client(t)
	if res, body := setup.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "taken@example.com", "password": "long enough password"}); res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	tests := []struct {
		name       string
		path       string
		body       string
		header     map[string]string
		wantStatus int
		wantError  string
	}{
		{name: "short password", path: "/api/v1/auth/signup", body: `{"email":"a@example.com","password":"short"}`,
			wantStatus: 400, wantError: errShortPassword.message},
		{name: "bad email", path: "/api/v1/auth/signup", body: `{"email":"not-an-email","password":"long enough password"}`,
			wantStatus: 400, wantError: errBadEmail.message},
		{name: "duplicate", path: "/api/v1/auth/signup", body: `{"email":"TAKEN@example.com","password":"long enough password"}`,
			wantStatus: 409, wantError: errEmailTaken.message},
		{name: "wrong password", path: "/api/v1/auth/login", body: `{"email":"taken@example.com","password":"wrong password!!"}`,
			wantStatus: 401, wantError: errBadLogin.message},
		{name: "unknown email", path: "/api/v1/auth/login", body: `{"email":"nobody@example.com","password":"long enough password"}`,
			wantStatus: 401, wantError: errBadLogin.message},
		{name: "malformed JSON", path: "/api/v1/auth/signup", body: `{"email":`,
			wantStatus: 400, wantError: errMalformedJSON.message},
		{name: "unknown field", path: "/api/v1/auth/signup", body: `{"email":"b@example.com","password":"long enough password","admin":true}`,
			wantStatus: 400, wantError: errMalformedJSON.message},
		{name: "oversized body", path: "/api/v1/auth/signup", body: `{"email":"c@example.com","password":"` + strings.Repeat("x", 100_000) + `"}`,
			wantStatus: 413, wantError: errTooLarge.message},
		{name: "missing Origin", path: "/api/v1/auth/signup", body: `{"email":"d@example.com","password":"long enough password"}`,
			header: map[string]string{"Origin": ""}, wantStatus: 403, wantError: errCrossSite.message},
		{name: "foreign Origin", path: "/api/v1/auth/login", body: `{"email":"taken@example.com","password":"long enough password"}`,
			header: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403,
			wantError: errCrossSite.message},
		{name: "not JSON", path: "/api/v1/auth/login", body: `email=a`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			wantStatus: 415, wantError: errNotJSON.message},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ts.client(t)
			res, body := c.raw(t, "POST", tt.path, tt.body, tt.header)
			var got apiError
			mustUnmarshal(t, body, &got)
			if res.StatusCode != tt.wantStatus || got.Error != tt.wantError || got.RequestID == "" {
				t.Errorf("POST %s = %d %q (request id %q), want %d %q", tt.path, res.StatusCode, got.Error, got.RequestID, tt.wantStatus, tt.wantError)
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)
	if res, body := c.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "victim@example.com", "password": "the real password"}); res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	for i := range maxFailsAccount {
		if res, _ := c.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "victim@example.com", "password": "guess number " + string(rune('a'+i))}); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, res.StatusCode)
		}
	}
	// Even the right password is refused while the account is locked.
	res, body := c.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "victim@example.com", "password": "the real password"})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("login after %d failures: %d %s (Retry-After %q), want 429", maxFailsAccount, res.StatusCode, body, res.Header.Get("Retry-After"))
	}
}

func TestGuestClaim(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)
	res, body := c.do(t, "POST", "/api/v1/auth/guest", nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("guest: %d %s", res.StatusCode, body)
	}
	var guest userJSON
	mustUnmarshal(t, body, &guest)
	if !guest.Guest || guest.Email != "" {
		t.Fatalf("guest = %+v", guest)
	}
	res, body = c.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "claimed@example.com", "password": "a good password", "name": "Claire"})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("claim: %d %s", res.StatusCode, body)
	}
	var claimed userJSON
	mustUnmarshal(t, body, &claimed)
	if diff := cmp.Diff(userJSON{ID: guest.ID, Email: "claimed@example.com", Name: "Claire", Role: "learner"}, claimed); diff != "" {
		t.Errorf("claimed account mismatch (-want +got):\n%s", diff)
	}
}

func TestAPIToken(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)
	res, body := c.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "script@example.com", "password": "a good password"})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	var u userJSON
	mustUnmarshal(t, body, &u)
	token, hash := NewToken(apiTokenPrefix)
	if err := ts.store.CreateAPIToken(t.Context(), u.ID, "ci", hash); err != nil {
		t.Fatal(err)
	}
	bare := ts.client(t)
	// A bearer request needs no Origin: it carries no ambient credential.
	res, body = bare.raw(t, "GET", "/api/v1/me", "", map[string]string{"Authorization": "Bearer " + token, "Origin": ""})
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), u.ID) {
		t.Fatalf("me with token: %d %s", res.StatusCode, body)
	}
	res, _ = bare.raw(t, "GET", "/api/v1/me", "", map[string]string{"Authorization": "Bearer kl_forged"})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged token: %d, want 401", res.StatusCode)
	}
}

func TestHealthAndSecurityHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		res, body := c.do(t, "GET", path, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, res.StatusCode, body)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
			if res.Header.Get(h) == "" {
				t.Errorf("GET %s: header %s missing", path, h)
			}
		}
	}
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
}

// TestLoginRateLimitPerIPIgnoresForgedForwardedFor: an attacker guessing
// many accounts from one address is stopped, however it fills in
// X-Forwarded-For.
func TestLoginRateLimitPerIPIgnoresForgedForwardedFor(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)
	if res, body := c.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "bystander@example.com", "password": "the real password"}); res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	login := func(i int, email, password string) *http.Response {
		body, _ := json.Marshal(map[string]string{"email": email, "password": password})
		res, _ := c.raw(t, "POST", "/api/v1/auth/login", string(body), map[string]string{
			"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i%250+1), "X-Real-IP": fmt.Sprintf("198.51.100.%d", i%250+1)})
		return res
	}
	for i := range maxFailsIP {
		if res := login(i, fmt.Sprintf("guess%d@example.com", i), "wrong password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, res.StatusCode)
		}
	}
	if res := login(maxFailsIP, "bystander@example.com", "the real password"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures from one address: %d, want 429", maxFailsIP, res.StatusCode)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	_, proxy, _ := net.ParseCIDR("10.0.0.0/8")
	tests := []struct {
		name    string
		proxies []*net.IPNet
		remote  string
		xff     string
		want    string
	}{
		{name: "direct", remote: "192.0.2.7:4000", want: "192.0.2.7"},
		{name: "direct ignores a forged header", remote: "192.0.2.7:4000", xff: "203.0.113.9", want: "192.0.2.7"},
		{name: "loopback is not trusted by default", remote: "127.0.0.1:4000", xff: "203.0.113.9", want: "127.0.0.1"},
		{name: "trusted proxy", proxies: []*net.IPNet{proxy}, remote: "10.1.2.3:4000", xff: "203.0.113.9", want: "203.0.113.9"},
		{name: "untrusted peer claiming a header", proxies: []*net.IPNet{proxy}, remote: "192.0.2.7:4000", xff: "203.0.113.9", want: "192.0.2.7"},
		{name: "forged hop before the proxy", proxies: []*net.IPNet{proxy}, remote: "10.1.2.3:4000", xff: "198.51.100.1, 203.0.113.9", want: "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientIP(tt.proxies)(r); got != tt.want {
				t.Errorf("client IP = %q, want %q", got, tt.want)
			}
		})
	}
}
