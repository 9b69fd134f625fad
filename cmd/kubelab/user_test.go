package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUserRoleCommand: kubelab user role makes an account an instructor
// (who may then make events) and back; guests and unknown emails are
// refused with the reason.
func TestUserRoleCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startKubelab(t, dir)
	if code, body := p.post(t, "/api/v1/auth/signup", `{"email":"Tess@Example.com","password":"a long enough password","name":"Tess"}`); code != http.StatusCreated {
		t.Fatalf("signup: %d %s", code, body)
	}
	p.stop(t)
	kubelab := func(args ...string) (string, error) {
		var out, errs bytes.Buffer
		err := run(t.Context(), append(args[:2:2], append([]string{"--data-dir", dir}, args[2:]...)...), func(string) string { return "" }, &out, &errs)
		return out.String(), err
	}
	if _, err := kubelab("user", "role", "--email", "nobody@example.com", "instructor"); err == nil || !strings.Contains(err.Error(), "no user with email nobody@example.com") {
		t.Errorf("an unknown email: %v", err)
	}
	if _, err := kubelab("user", "role", "--email", "tess@example.com", "king"); err == nil || !strings.Contains(err.Error(), "usage: kubelab user role") {
		t.Errorf("an unknown role: %v", err)
	}
	out, err := kubelab("user", "role", "--email", "tess@example.com", "instructor")
	if err != nil || out != "tess@example.com is now: instructor\n" {
		t.Fatalf("user role: %q, %v", out, err)
	}
	token, err := kubelab("token", "create", "--email", "tess@example.com")
	if err != nil {
		t.Fatal(err)
	}
	p = startKubelab(t, dir)
	call := func(method, path, body string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), method, p.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, me := call("GET", "/api/v1/me", "")
	var u struct{ Role string }
	if err := json.Unmarshal([]byte(me), &u); err != nil || u.Role != "instructor" {
		t.Errorf("/api/v1/me after user role: %s", me)
	}
	if code, body := call("POST", "/api/v1/events", `{"title":"Day one","chapters":["pods"],"seats":20}`); code != http.StatusCreated {
		t.Errorf("an instructor makes an event: %d %s", code, body)
	}
	p.stop(t)
	if out, err := kubelab("user", "role", "--email", "tess@example.com", "learner"); err != nil || out != "tess@example.com is now: learner\n" {
		t.Errorf("back to learner: %q, %v", out, err)
	}
}
