package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestRuntimeChapterRefusedOnSimulatedCluster: a chapter that needs real
// containers cannot start where containers are simulated (its checks would
// grade what kwok pretends), and both the API and the page say why and
// what to do; the lesson itself stays readable.
func TestRuntimeChapterRefusedOnSimulatedCluster(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := guest(t, ts)
	_, body := c.do(t, "GET", "/api/v1/chapters", nil)
	available := map[string]bool{}
	for _, ch := range decode[[]struct {
		ID        string `json:"id"`
		Available bool   `json:"available"`
	}](t, body) {
		available[ch.ID] = ch.Available
	}
	if available["probes"] || !available["pods"] {
		t.Errorf("catalog availability on the simulated cluster: %v, want probes false and pods true", available)
	}
	res, body := c.do(t, "POST", "/api/v1/chapters/probes/session", nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(body), "--sandbox=kind") {
		t.Errorf("start a runtime chapter on the simulated cluster: %d %s, want 409 naming --sandbox=kind", res.StatusCode, body)
	}
	res, body = c.do(t, "GET", "/chapters/probes", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("chapter page: %d", res.StatusCode)
	}
	page := string(body)
	for _, want := range []string{"data-unavailable", "Its lab cannot start here", "you can still read the lesson", "--sandbox=kind"} {
		if !strings.Contains(page, want) {
			t.Errorf("the probes page lacks %q", want)
		}
	}
	if res, body := c.do(t, "POST", "/api/v1/chapters/pods/session", nil); res.StatusCode >= 300 {
		t.Errorf("a chapter without needs still starts: %d %s", res.StatusCode, body)
	}
}
