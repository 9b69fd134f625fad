package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"
)

// testClient is a browser stand-in: it keeps cookies and sends our Origin.
type testClient struct {
	base   string
	http   *http.Client
	header map[string]string // sent with every request, before raw's own
}

func newTestClient(t *testing.T, base string) *testClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do sends v as JSON (nil sends no body) and returns the response and body.
func (c *testClient) do(t *testing.T, method, path string, v any) (*http.Response, []byte) {
	t.Helper()
	body := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	return c.raw(t, method, path, body, nil)
}

// raw sends body as JSON; header entries override the defaults (Host too),
// and an empty value removes a header.
func (c *testClient) raw(t *testing.T, method, path, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewBufferString(body)
	}
	// A request that never answers fails the test instead of hanging the
	// package (the slowest, a Check of exec and probe checks, takes 90 s).
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", c.base)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range mergeHeaders(c.header, header) {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return res, data
}

func mergeHeaders(base, over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// cookie returns the value of the client's cookie name for the server's root.
func (c *testClient) cookie(t *testing.T, name string) string {
	t.Helper()
	u, err := url.Parse(c.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no cookie %s", name)
	return ""
}

// setCookie gives the client a cookie for the server's root, as a planted
// or copied cookie would be.
func (c *testClient) setCookie(t *testing.T, name, value string) {
	t.Helper()
	u, err := url.Parse(c.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}
