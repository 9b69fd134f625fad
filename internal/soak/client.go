package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// apiClient calls kubelab as one learner's browser does: with its own
// cookies, the page's Origin and JSON bodies.
type apiClient struct {
	base string
	http *http.Client
	r    *recorder
}

func newAPIClient(base string, tr http.RoundTripper, r *recorder) *apiClient {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &apiClient{base: base, r: r, http: &http.Client{Jar: jar, Transport: tr, Timeout: 3 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// errStatus is an answer the learner did not expect.
type errStatus struct {
	route  string
	status int
	body   string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.route, e.status, strings.TrimSpace(e.body))
}

// call sends in as JSON (nil: no body) and decodes the answer into out
// (nil: ignore it). An answer other than want is an *errStatus. route
// names the call in the report ("POST session").
func (c *apiClient) call(ctx context.Context, method, path, route string, in, out any, want ...int) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: %w", route, err)
		}
	}
	t0 := time.Now()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("%s: %w", route, err)
		}
		req.Header.Set("Origin", c.base)
		req.Header.Set("Accept", "application/json")
		if method != http.MethodGet {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", route, err)
		}
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: read answer: %w", route, err)
		}
		// New accounts are rate limited: a learner waits and tries again,
		// as the page tells them.
		if res.StatusCode == http.StatusTooManyRequests && attempt < 5 {
			c.r.count("throttled (429, retried)", 1)
			wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			}
			continue
		}
		c.r.latency(latAPI, time.Since(t0))
		if !slices.Contains(want, res.StatusCode) {
			return &errStatus{route: route, status: res.StatusCode, body: string(data)}
		}
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s: decode %q: %w", route, data, err)
			}
		}
		return nil
	}
}

// cookieHeader is the learner's cookies, for the terminal's websocket and wrk.
func (c *apiClient) cookieHeader() string {
	req, _ := http.NewRequest("GET", c.base+"/", nil)
	var parts []string
	for _, ck := range c.http.Jar.Cookies(req.URL) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// sessionJSON is the API's view of a lab session.
type sessionJSON struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Chapter string `json:"chapter"`
}

// userJSON is the API's view of the signed-in user.
type userJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type taskJSON struct {
	ID     string `json:"id"`
	Passed bool   `json:"passed"`
}

// stream follows a session's server-sent events, as the page's
// EventSource does (reconnecting when the stream breaks).
type stream struct {
	c      *apiClient
	id     string
	passed func(task string) // called when a task newly passes; may be nil
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	statuses []statusEvent        // every status seen, in order
	green    map[string]time.Time // task → when the stream said it passed
	changed  chan struct{}        // closed and replaced on every change
}

type statusEvent struct {
	status, reason string
	at             time.Time
}

// openStream follows session id's events until close; passed (if not
// nil) learns of every task that newly passes.
func openStream(ctx context.Context, c *apiClient, id string, passed func(task string)) *stream {
	// The stream lives until close, also after the soak's time is up: an
	// event's learners hold their labs, events included, until its grid
	// was checked.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &stream{c: c, id: id, passed: passed, cancel: cancel, done: make(chan struct{}), green: map[string]time.Time{}, changed: make(chan struct{})}
	go func() { // owned by s: close waits for done
		defer close(s.done)
		for ctx.Err() == nil {
			err := s.follow(ctx)
			if ctx.Err() != nil {
				return
			}
			c.r.fail("event stream broke", "events of %s: %v", id, err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second): // EventSource waits too
			}
		}
	}()
	return s
}

func (s *stream) close() {
	s.cancel()
	<-s.done
}

// follow reads the stream until it ends; only ctx should end it.
func (s *stream) follow(ctx context.Context) error {
	return followSSE(ctx, s.c, "/api/v1/sessions/"+s.id+"/events", "GET events", s.event)
}

// followSSE reads a server-sent event stream as EventSource does, handing
// each event to fn, until the stream ends; only ctx should end it.
func followSSE(ctx context.Context, c *apiClient, path, route string, fn func(name, data string)) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	// The stream stays open: the client's overall timeout must not cut it.
	client := *c.http
	client.Timeout = 0
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return &errStatus{route: route, status: res.StatusCode, body: string(b)}
	}
	if err := readSSE(res.Body, fn); err != nil {
		return err
	}
	return errors.New("the server ended the stream")
}

// readSSE parses server-sent events ("event:" and "data:" lines, a blank
// line after each) until r ends. A grid is one long data line.
func readSSE(r io.Reader, fn func(name, data string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && name != "":
			fn(name, data)
			name, data = "", ""
		}
	}
	return sc.Err()
}

func (s *stream) event(name, data string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case "status":
		var ss sessionJSON
		if err := json.Unmarshal([]byte(data), &ss); err != nil {
			s.c.r.fail("event stream: bad status", "status event %q: %v", data, err)
			return
		}
		s.statuses = append(s.statuses, statusEvent{status: ss.Status, reason: ss.Reason, at: now})
	case "tasks":
		var ts []taskJSON
		if err := json.Unmarshal([]byte(data), &ts); err != nil {
			s.c.r.fail("event stream: bad tasks", "tasks event %q: %v", data, err)
			return
		}
		for _, t := range ts {
			_, was := s.green[t.ID]
			switch {
			case t.Passed && !was:
				s.green[t.ID] = now
				if s.passed != nil {
					s.passed(t.ID)
				}
			case !t.Passed:
				delete(s.green, t.ID)
			}
		}
	default:
		return
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitStatus waits for a status event after the first `after` ones that
// says want, and returns its index and time; a session that failed or
// ended is an error with its reason.
func (s *stream) waitStatus(ctx context.Context, after int, want string, within time.Duration) (int, time.Time, error) {
	timeout := time.After(within)
	for {
		s.mu.Lock()
		changed := s.changed
		for i := after; i < len(s.statuses); i++ {
			switch ev := s.statuses[i]; ev.status {
			case want:
				s.mu.Unlock()
				return i, ev.at, nil
			case "failed", "expired", "ended":
				s.mu.Unlock()
				return 0, time.Time{}, fmt.Errorf("the session is %s: %s", ev.status, ev.reason)
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-timeout:
			return 0, time.Time{}, fmt.Errorf("no %q status within %s", want, within)
		case <-changed:
		}
	}
}

// seen is how many status events arrived so far.
func (s *stream) seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.statuses)
}

// waitGreen waits until the stream says the task passed, and says when.
func (s *stream) waitGreen(ctx context.Context, task string, within time.Duration) (time.Time, error) {
	timeout := time.After(within)
	for {
		s.mu.Lock()
		at, ok := s.green[task]
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-timeout:
			return time.Time{}, fmt.Errorf("task %s not green within %s", task, within)
		case <-changed:
		}
	}
}
