package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

type attemptView struct {
	ID       string     `json:"id"`
	Status   string     `json:"status"`
	Deadline *time.Time `json:"deadline"`
}

// TestExamDeadlineSurvivesRestart: an attempt's clock is the server's. A
// restart of kubelab neither stops nor moves it; the attempt goes on.
func TestExamDeadlineSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startKubelab(t, dir)
	c := newAPIClient(t, p.url)
	if code, body := c.do("POST", "/api/v1/auth/guest"); code/100 != 2 {
		t.Fatalf("guest: %d %s", code, body)
	}
	code, body := c.do("GET", "/api/v1/exams")
	var list []struct{ ID string }
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list) == 0 {
		t.Fatalf("exams: %d %s", code, body)
	}
	code, body = c.do("POST", "/api/v1/exams/"+list[0].ID+"/attempts")
	var a attemptView
	if err := json.Unmarshal(body, &a); code != http.StatusAccepted || err != nil {
		t.Fatalf("start attempt: %d %s", code, body)
	}
	running := func() attemptView {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			code, body := c.do("GET", "/api/v1/attempts/"+a.ID)
			var v attemptView
			if err := json.Unmarshal(body, &v); code != http.StatusOK || err != nil {
				t.Fatalf("attempt: %d %s", code, body)
			}
			if v.Status == "running" && v.Deadline != nil {
				return v
			}
		}
		t.Fatalf("attempt %s never ran", a.ID)
		return attemptView{}
	}
	before := running()
	p.stop(t)

	p = startKubelab(t, dir)
	c.base = p.url // the cookie jar keys cookies by host, not port
	after := running()
	if !after.Deadline.Equal(*before.Deadline) {
		t.Errorf("the restart moved the deadline from %v to %v", before.Deadline, after.Deadline)
	}
}
