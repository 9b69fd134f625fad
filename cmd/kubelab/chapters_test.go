package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// setupMakes lists, per bundled chapter, Deployments its lessons say
// kubelab made (namespace by logical name, "" the primary one).
var setupMakes = map[string][][2]string{
	"pods":        {{"", "hello-deploy"}},
	"labels":      {{"", "probe-test-app"}},
	"deployments": {{"", "pi-web"}},
	"services":    {{"", "sleep-1"}, {"", "sleep-2"}, {"", "numbers-api"}, {"", "numbers-web"}, {"", "shop-web-v1"}},
	"namespaces":  {{"dev", "web"}},
}

// TestServeEveryChapterStartsClean starts every bundled chapter through the
// HTTP API of a real `kubelab serve`, as a learner's browser does: the
// setup's objects are there when the session is ready, and every task
// reads not started with 0 points — in the chapter, the catalog and the
// progress API — after live grading has seen the start state.
func TestServeEveryChapterStartsClean(t *testing.T) {
	t.Parallel()
	p := startKubelab(t, t.TempDir())
	c := newAPIClient(t, p.url)
	call := func(method, path string, out any) int {
		t.Helper()
		code, b := c.do(method, path)
		if code >= 300 {
			t.Logf("%s %s: %d %s", method, path, code, b)
		} else if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
		return code
	}
	if code := call("POST", "/api/v1/auth/guest", nil); code != http.StatusCreated {
		t.Fatalf("guest: %d", code)
	}
	var catalog []struct {
		ID        string   `json:"id"`
		Needs     []string `json:"needs"`
		Available bool     `json:"available"`
	}
	call("GET", "/api/v1/chapters", &catalog)
	if len(catalog) < 7 {
		t.Fatalf("catalog has %d chapters", len(catalog))
	}
	for _, ch := range catalog {
		type session struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Sandbox struct {
				Namespace  string            `json:"namespace"`
				Namespaces map[string]string `json:"namespaces"`
			} `json:"sandbox"`
		}
		if slices.Contains(ch.Needs, "runtime") {
			// The simulated cluster cannot run it: the catalog says so, and
			// a start is refused with the way out.
			if ch.Available {
				t.Errorf("the catalog offers %s (needs %v) on the simulated cluster", ch.ID, ch.Needs)
			}
			if code, b := c.do("POST", "/api/v1/chapters/"+ch.ID+"/session"); code != http.StatusConflict || !strings.Contains(string(b), "--sandbox=kind") {
				t.Errorf("%s needs real containers: start on the simulated cluster answered %d %s, want 409 naming --sandbox=kind", ch.ID, code, b)
			}
			continue
		}
		var ss session
		call("POST", "/api/v1/chapters/"+ch.ID+"/session", &ss)
		for deadline := time.Now().Add(90 * time.Second); ss.Status != "ready"; time.Sleep(50 * time.Millisecond) {
			if ss.Status == "failed" || time.Now().After(deadline) {
				t.Fatalf("%s: session %s (%s)\n%s", ch.ID, ss.Status, ss.Reason, p.output())
			}
			call("GET", "/api/v1/sessions/"+ss.ID, &ss)
		}
		// The setup's objects exist, seen with the learner's own kubeconfig.
		_, kc := c.do("GET", "/api/v1/sessions/"+ss.ID+"/kubeconfig")
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
		if err != nil {
			t.Fatalf("%s: kubeconfig: %v", ch.ID, err)
		}
		cs := kubernetes.NewForConfigOrDie(cfg)
		for _, obj := range setupMakes[ch.ID] {
			ns := ss.Sandbox.Namespace
			if obj[0] != "" {
				ns = ss.Sandbox.Namespaces[obj[0]]
			}
			if _, err := cs.AppsV1().Deployments(ns).Get(t.Context(), obj[1], metav1.GetOptions{}); err != nil {
				t.Errorf("%s: the setup's Deployment %s/%s: %v", ch.ID, ns, obj[1], err)
			}
		}
		// Live grading has graded the start state once every task has a result.
		var results []struct {
			ID    string  `json:"id"`
			Score float64 `json:"score"`
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			call("GET", "/api/v1/sessions/"+ss.ID+"/tasks", &results)
			if len(results) > 0 || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond) // a late free pass would be recorded by now
		for _, r := range results {
			if r.Score != 0 {
				t.Errorf("%s/%s scores %v before the learner acted", ch.ID, r.ID, r.Score)
			}
		}
		var detail struct {
			Tasks []struct {
				ID    string  `json:"id"`
				State string  `json:"state"`
				Score float64 `json:"score"`
			} `json:"tasks"`
			Progress struct {
				Score   float64 `json:"score"`
				Started bool    `json:"started"`
			} `json:"progress"`
		}
		call("GET", "/api/v1/chapters/"+ch.ID, &detail)
		if len(detail.Tasks) == 0 {
			t.Errorf("%s: no tasks in the chapter JSON", ch.ID)
		}
		for _, task := range detail.Tasks {
			if task.State != "not_started" || task.Score != 0 {
				t.Errorf("%s/%s: %s with %v points at the start, want not_started with 0", ch.ID, task.ID, task.State, task.Score)
			}
		}
		if detail.Progress.Score != 0 || detail.Progress.Started {
			t.Errorf("%s: chapter progress %+v at the start", ch.ID, detail.Progress)
		}
		if code := call("DELETE", "/api/v1/sessions/"+ss.ID, nil); code != http.StatusNoContent {
			t.Errorf("%s: end: %d", ch.ID, code)
		}
	}
	var progress []struct {
		Chapter string  `json:"chapter"`
		Score   float64 `json:"score"`
		Started bool    `json:"started"`
	}
	call("GET", "/api/v1/progress", &progress)
	for _, r := range progress {
		if r.Score != 0 || r.Started {
			t.Errorf("progress after only starting chapters: %+v", r)
		}
	}
}
