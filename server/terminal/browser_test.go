package terminal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kubelab/kubelab/server/terminal"
)

// TestBrowserTerminal drives frontend/static/terminal.js in headless
// Chromium under the same Content-Security-Policy as kubelab's pages:
// typing, styling, a dropped connection resumed without loss or
// duplicates, and the shell's exit.
func TestBrowserTerminal(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fast tier (-short): needs Chromium; run without -short")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("headless Chromium is required (apt-get install chromium): %v", err)
	}
	h := newHarness(t, terminal.Options{}, bash(t))
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'"
	withCSP := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			next.ServeHTTP(w, r)
		})
	}
	// The same layout as kubelab's /static/<version>/{static,vendor}/.
	h.mux.Handle("/static/v/", withCSP(http.StripPrefix("/static/v/", http.FileServer(http.Dir("../../frontend")))))
	h.mux.Handle("/page/", withCSP(http.StripPrefix("/page/", http.FileServer(http.Dir("testdata/browser")))))

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1000, 700))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	eval := func(js string, out any) {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		if out != nil {
			if err := json.Unmarshal(v, out); err != nil {
				t.Fatalf("evaluate %s: decode %s: %v", js, v, err)
			}
		}
	}
	waitJS := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var ok bool
			eval(js, &ok)
			if ok {
				return
			}
			if time.Now().After(deadline) {
				var statuses []string
				var screen string
				eval(`window.statuses || []`, &statuses)
				eval(`window.screenText ? window.screenText() : ''`, &screen)
				t.Fatalf("waiting for %s: statuses %q, screen:\n%s", what, statuses, strings.TrimSpace(screen))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if _, err := chromedp.Run(ctx, chromedp.Navigate(h.srv.URL+"/page/index.html?key=b")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	waitJS("connected", `(window.statuses || []).includes('connected')`)
	eval(`kt.typeText('stty size; echo hi-$((6*7))\r')`, nil)
	waitJS("echo", `screenText().includes('hi-42')`)

	// The fit addon sized the PTY to the 800x400 box, not 80x24.
	var size string
	eval(`(screenText().match(/^(\d+ \d+)$/m) || [''])[0]`, &size)
	var cols, rows int
	fmt.Sscanf(size, "%d %d", &rows, &cols)
	if cols < 60 || cols > 120 || rows < 15 || rows > 30 || (cols == 80 && rows == 24) {
		t.Errorf("stty size in the browser = %q, want the fitted size of an 800x400 box", size)
	}

	// xterm.js's inline <style> is blocked by the CSP; terminal.js adopts it.
	var color string
	eval(`getComputedStyle(document.querySelector('.xterm-rows')).color`, &color)
	if color != "rgb(230, 230, 230)" {
		t.Errorf("terminal text color = %q, want the theme's rgb(230, 230, 230): styles were not applied", color)
	}

	// A dropped connection: the page reconnects and resumes without loss or duplicates.
	h.dropConnections()
	waitJS("reconnect", `statuses.filter(s => s === 'connected').length >= 2`)
	eval(`kt.typeText('echo again-$((1+1))\r')`, nil)
	waitJS("echo after reconnect", `screenText().includes('again-2')`)
	var n int
	eval(`screenText().split('\n').filter(l => l === 'hi-42').length`, &n)
	if n != 1 {
		t.Errorf("after the reconnect the output line hi-42 is on screen %d times, want 1", n)
	}

	eval(`kt.typeText('exit\r')`, nil)
	waitJS("exit", `statuses.some(s => s.startsWith('closed:shell exited'))`)
}
