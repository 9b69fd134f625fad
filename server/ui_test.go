package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The UI tests drive Debian's Chromium (apt-get install chromium) through
// the whole stack: pages, API, sandbox manager, simulated cluster, jailed
// shell and terminal websocket. Screenshots go to the test's artifact
// directory: run with -artifacts -outputdir DIR to keep them.

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile and returns a
// context for its first tab. The test fails if Chromium cannot start.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("fast tier (-short): needs Chromium; run without -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is needed for the UI tests (apt-get install chromium): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 720),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("start Chromium %s: %v", chromiumPath, err)
	}
	return ctx
}

// newUser opens a tab in a new browser context (its own cookies and
// storage): a second person on another computer.
func newUser(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("open a tab in a new browser context: %v", err)
	}
	// An alert would mean a script injected through user input ran.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("the page opened a JavaScript dialog: %q", ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// actionTimeout bounds one browser action: chromedp waits for a selector
// until its context ends, and a page that never shows it must fail the
// test, not hang the package until go test's own timeout.
const actionTimeout = 2 * time.Minute

// bounded is ctx for one browser action.
func bounded(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	t.Cleanup(cancel)
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(bounded(t, ctx), actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// click clicks the element matching a CSS selector with a real mouse event.
// Right after a navigation chromedp's DOM mirror can still name nodes of
// the old document ("Could not find node with given id"): then it retries.
func click(t *testing.T, ctx context.Context, what, css string) {
	t.Helper()
	var err error
	for range 20 {
		if err = chromedp.Do(bounded(t, ctx), chromedp.Click(chromedp.CSS(css))); err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(bounded(t, ctx), chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds. On timeout it saves a
// screenshot and fails with the page's state.
func waitFor(t *testing.T, ctx context.Context, what, cond string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			state, _ := chromedp.Run(bounded(t, ctx), chromedp.Evaluate[string](pageStateJS))
			shot := screenshot(t, ctx, "timeout-"+strings.NewReplacer(" ", "-", "/", "-").Replace(what))
			t.Fatalf("waiting for %s: not true after %s (err %v)\ncondition: %s\npage state: %s\nscreenshot: %s",
				what, timeout, err, cond, state, shot)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pageStateJS describes the chapter page for failure messages.
const pageStateJS = `JSON.stringify({
	url: location.href,
	overlay: document.querySelector('#overlay')?.dataset.state,
	session: document.querySelector('#session-status')?.textContent,
	terminal: document.querySelector('#term-status')?.textContent,
	tasks: [...document.querySelectorAll('.task')].map(li => li.dataset.task + ':' + li.dataset.status),
	text: (document.querySelector('#terminal')?.innerText || '').slice(-400),
	toast: document.querySelector('#toast')?.textContent,
	error: document.querySelector('.form-error:not([hidden])')?.textContent,
})`

// terminalTextJS reads what the terminal shows (xterm's rows, or its
// accessibility tree when a canvas renderer draws the rows).
const terminalTextJS = `(() => {
	const host = document.querySelector('#terminal');
	const rows = host?.querySelector('.xterm-rows');
	return (rows?.innerText || host?.querySelector('.xterm-accessibility')?.innerText || '');
})()`

// promptJS holds when the terminal is connected and its last line is a
// shell prompt (the shell waits for input).
const promptJS = `(() => {
	if (document.querySelector('#term-status')?.dataset.state !== 'connected') return false;
	const lines = (` + terminalTextJS + `).trimEnd().split('\n');
	return /[$#]$/.test(lines[lines.length - 1].trimEnd());
})()`

// insertText types text into the focused element as one input event
// (KeyEvent's key-down-plus-char pairs reach xterm.js twice).
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	buf, err := chromedp.Run(bounded(t, ctx), chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Errorf("write screenshot: %v", err)
		return ""
	}
	t.Logf("screenshot %s: %s", name, path)
	return path
}

// setTheme clicks the theme switch until the page shows theme.
func setTheme(t *testing.T, ctx context.Context, theme string) {
	t.Helper()
	for range 3 {
		if eval[string](t, ctx, `document.documentElement.dataset.theme || ''`) == theme {
			return
		}
		click(t, ctx, "switch theme", "#theme-toggle")
	}
	t.Fatalf("the theme switch never reached %q", theme)
}

func signupInBrowser(t *testing.T, ctx context.Context, base, email, name string) {
	t.Helper()
	do(t, ctx, "sign up",
		chromedp.Navigate(base+"/signup"),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`#signup-form button[type="submit"]`)),
	)
	waitFor(t, ctx, "the catalog after sign-up", `location.pathname === '/' && document.querySelector('.user-name')`, 10*time.Second)
}

// startReadyJS holds when the chapter page offers Start and its script
// has bound the button (the page renders it disabled).
// signedUp opens a browser on ts, signs a new learner up in it and returns
// the page, the site's base URL and the learner's user ID.
func signedUp(t *testing.T, ts *testStack, email, name string) (u context.Context, base, userID string) {
	t.Helper()
	base = ts.client(t).base
	u = newUser(t, newBrowser(t))
	signupInBrowser(t, u, base, email, name)
	return u, base, eval[string](t, u, `document.body.dataset.user`)
}

const startReadyJS = `document.querySelector('#overlay')?.dataset.state === 'start' && !document.querySelector('#start-btn').disabled`

// sessionIDJS is the session the chapter page remembers for chapter "pods".
const sessionIDJS = `Object.keys(localStorage).filter(k => k.startsWith('kubelab.session.') && k.endsWith('.pods')).map(k => localStorage.getItem(k))[0] || ''`

func TestUIChapterFlow(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	base := ts.client(t).base
	browser := newBrowser(t)
	ada := newUser(t, browser)

	// A new user signs up and sees the catalog, in both themes.
	signupInBrowser(t, ada, base, "ada@example.com", "Ada")
	waitFor(t, ada, "the chapter card", `document.querySelector('a.chapter-card[href="/chapters/pods"]')`, 5*time.Second)
	setTheme(t, ada, "light")
	screenshot(t, ada, "catalog-light")
	setTheme(t, ada, "dark")
	screenshot(t, ada, "catalog-dark")
	setTheme(t, ada, "light")

	// Chapter 1: start the lab and wait for a usable prompt.
	click(t, ada, "open chapter pods", `a.chapter-card[href="/chapters/pods"]`)
	waitFor(t, ada, "the start button", startReadyJS, 10*time.Second)
	t.Logf("measure: click Start → usable prompt (cold, with the chapter's setup): %s", startToPrompt(t, ada))
	sessionA := eval[string](t, ada, sessionIDJS)
	if sessionA == "" {
		t.Fatal("the chapter page did not remember its session")
	}

	// Click the run buttons of the first tasks' steps until those tasks pass.
	tasks := eval[[]string](t, ada, `[...document.querySelectorAll('.task')].slice(0, 2).map(li => li.dataset.task)`)
	if len(tasks) < 2 {
		t.Fatalf("chapter pods has tasks %v, want at least 2", tasks)
	}
	before := eval[float64](t, ada, `document.querySelector('#progress').value`)
	for _, task := range tasks {
		passedJS := fmt.Sprintf(`document.querySelector('#task-%s').dataset.status === 'passed'`, task)
		step := eval[string](t, ada, fmt.Sprintf(`document.querySelector('#task-%s').dataset.step`, task))
		click(t, ada, "open step "+step, "#tab-"+step)
		// The step's manifests first, saved into the home as its lesson says.
		for _, file := range eval[[]string](t, ada, fmt.Sprintf(`[...document.querySelectorAll('#step-%s .codeblock[data-file]')].map(b => b.dataset.file)`, step)) {
			click(t, ada, "save "+file, fmt.Sprintf(`#step-%s .codeblock[data-file=%q] button.save`, step, file))
			waitFor(t, ada, "the editor showing "+file, `document.querySelector('#editor-path').textContent === '~/`+file+`'`, 20*time.Second)
		}
		runs := eval[[]string](t, ada, fmt.Sprintf(`[...document.querySelectorAll('#step-%s button[data-run]')].map(b => b.dataset.run)`, step))
		for _, run := range runs {
			if eval[bool](t, ada, passedJS) {
				break
			}
			click(t, ada, "click run button "+run, `button[data-run="`+run+`"]`)
			// Let the shell finish the command before the next one.
			time.Sleep(300 * time.Millisecond)
			waitFor(t, ada, "the prompt after run button "+run, promptJS, 30*time.Second)
		}
		waitFor(t, ada, "task "+task+" to turn green", passedJS, 20*time.Second)
	}
	after := eval[float64](t, ada, `document.querySelector('#progress').value`)
	if after < before+float64(len(tasks)) {
		t.Errorf("progress bar went from %v to %v, want +%d", before, after, len(tasks))
	}
	screenshot(t, ada, "chapter-light")
	setTheme(t, ada, "dark")
	screenshot(t, ada, "chapter-dark")
	setTheme(t, ada, "light")

	// A reload keeps the terminal's scrollback and the progress.
	marker := "klmark42" // short: a wrapped line would split it
	do(t, ada, "type into the terminal", chromedp.Click(chromedp.CSS("#terminal")), insertText("echo "+marker), chromedp.KeyEvent("\r"))
	waitFor(t, ada, "the marker in the terminal", `(`+terminalTextJS+`).split('`+marker+`').length > 2`, 10*time.Second)
	do(t, ada, "reload", chromedp.Reload())
	waitFor(t, ada, "the prompt after reload", promptJS, 30*time.Second)
	waitFor(t, ada, "the scrollback after reload", `(`+terminalTextJS+`).includes('`+marker+`')`, 10*time.Second)
	if got := eval[float64](t, ada, `document.querySelector('#progress').value`); got != after {
		t.Errorf("progress after reload = %v, want %v", got, after)
	}
	for _, task := range tasks {
		waitFor(t, ada, "task "+task+" still green after reload", fmt.Sprintf(`document.querySelector('#task-%s').dataset.status === 'passed'`, task), 5*time.Second)
	}
	if got := eval[string](t, ada, sessionIDJS); got != sessionA {
		t.Errorf("session after reload = %q, want %q", got, sessionA)
	}

	// A second user opening the same chapter URL gets a session of their own,
	// and the first user's session and terminal are a 404 for them. Their
	// display name is shown as text.
	const evilName = `<img src=x onerror=alert(1)>`
	bob := newUser(t, browser)
	signupInBrowser(t, bob, base, "bob@example.com", evilName)
	if got := eval[string](t, bob, `document.querySelector('.user-name').textContent`); got != evilName {
		t.Errorf("display name shown as %q, want the literal text %q", got, evilName)
	}
	if n := eval[int](t, bob, `document.querySelectorAll('img[src="x"]').length`); n != 0 {
		t.Errorf("the display name became %d <img> elements", n)
	}
	do(t, bob, "open the first user's chapter URL", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, bob, "the start button", startReadyJS, 10*time.Second)
	t.Logf("measure: click Start → usable prompt (cold, with the chapter's setup, second user): %s", startToPrompt(t, bob))
	sessionB := eval[string](t, bob, sessionIDJS)
	if sessionB == "" || sessionB == sessionA {
		t.Fatalf("second user's session = %q, want a new one (first user's is %q)", sessionB, sessionA)
	}
	for _, path := range []string{"/api/v1/sessions/" + sessionA + "/terminal", "/api/v1/sessions/" + sessionA} {
		status := eval[int](t, bob, fmt.Sprintf(`fetch(%q).then(r => r.status)`, path))
		if status != 404 {
			t.Errorf("second user GET %s = %d, want 404", path, status)
		}
	}
}

// TestUIStartCold: without a warm pool, Start creates the sandbox (its
// namespace, quota, credentials) and then the shell; the chapter has no
// setup of its own, so this is kubelab's part of a cold start.
func TestUIStartCold(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	base := ts.client(t).base
	u := newUser(t, newBrowser(t))
	signupInBrowser(t, u, base, "cold@example.com", "Cole")
	for i := range 3 {
		do(t, u, "open chapter orientation", chromedp.Navigate(base+"/chapters/orientation"))
		waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
		waitFor(t, u, "the terminal's screen, built ahead", `!!document.querySelector('#terminal .xterm')`, 10*time.Second)
		t.Logf("measure: click Start → usable prompt (cold, a chapter without setup, run %d): %s", i+1, startToPrompt(t, u))
		click(t, u, "End", "#end-btn")
		click(t, u, "End session", `#confirm-end button[value="confirm"]`)
		waitFor(t, u, "the lab ended", `document.querySelector('#overlay').dataset.state === 'ended'`, 20*time.Second)
	}
}

// TestUIStartFromWarmPool: with a warm pool, Start claims a ready sandbox;
// the learner waits only for the shell.
func TestUIStartFromWarmPool(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, withPool(1))
	base := ts.client(t).base
	u := newUser(t, newBrowser(t))
	signupInBrowser(t, u, base, "pool@example.com", "Pat")
	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	// A learner reads before clicking: by then the page has built the
	// terminal's screen in its idle time.
	waitFor(t, u, "the terminal's screen, built ahead", `!!document.querySelector('#terminal .xterm')`, 10*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for ts.srv.sandboxes.PreparedReady(podsChapter) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the warm pool never filled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("measure: click Start → usable prompt (warm pool, the chapter's setup run ahead): %s", startToPrompt(t, u))
}

// startToPrompt clicks Start and returns how long the page took to show a
// prompt the learner can type into, timed in the page itself.
func startToPrompt(t *testing.T, ctx context.Context) time.Duration {
	t.Helper()
	eval[bool](t, ctx, `(() => {
	window.__startToPrompt = 0;
	const t0 = performance.now();
	const poll = setInterval(() => {
		if (!(`+promptJS+`)) return;
		window.__startToPrompt = performance.now() - t0;
		clearInterval(poll);
	}, 2);
	document.querySelector('#start-btn').click();
	return true;
})()`)
	waitFor(t, ctx, "the terminal prompt", `window.__startToPrompt > 0`, 90*time.Second)
	return time.Duration(eval[float64](t, ctx, `window.__startToPrompt`) * float64(time.Millisecond)).Round(time.Millisecond)
}

// TestUIReplayedTerminalIsInert: vim asks the terminal questions (device
// attributes, cursor position, colours). Live, the browser answers and vim
// reads the answers; replayed after a reload, the same output must not be
// answered again, or the answers land at the shell prompt.
func TestUIReplayedTerminalIsInert(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	base := ts.client(t).base
	u := newUser(t, newBrowser(t))
	signupInBrowser(t, u, base, "vim@example.com", "Vi")
	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	click(t, u, "click Start", "#start-btn")
	waitFor(t, u, "the terminal prompt", promptJS, 90*time.Second)

	enter := func(what, line string) {
		t.Helper()
		do(t, u, what, chromedp.Click(chromedp.CSS("#terminal")), insertText(line), chromedp.KeyEvent("\r"))
	}
	// doneJS holds when the command line holding marker has finished: a
	// prompt follows it.
	doneJS := func(marker string) string {
		return fmt.Sprintf(`(() => {
			const text = (%s).trimEnd();
			const i = text.lastIndexOf(%q);
			return i >= 0 && text.indexOf('\n', i) > 0 && %s;
		})()`, terminalTextJS, marker, promptJS)
	}
	// termResponseJS holds when vim shows the reply to its DA2 query
	// (xterm.js answers 0;276;0c): the terminal answered live output.
	termResponseJS := `(` + terminalTextJS + `).includes('276;0c')`

	enter("start vim", "vim x.yaml")
	waitFor(t, u, "vim", `(`+terminalTextJS+`).includes('"x.yaml"')`, 20*time.Second)
	time.Sleep(500 * time.Millisecond) // vim reads the answers to its queries
	enter("show vim's termresponse", ":echo v:termresponse")
	waitFor(t, u, "vim's termresponse", termResponseJS, 10*time.Second)
	enter("quit vim", ":wq")
	waitFor(t, u, "the prompt after vim", doneJS("vim x.yaml"), 10*time.Second)

	do(t, u, "reload", chromedp.Reload())
	waitFor(t, u, "the replayed scrollback", `document.querySelector('#term-status')?.dataset.state === 'connected' && (`+terminalTextJS+`).includes('vim x.yaml')`, 30*time.Second)
	time.Sleep(time.Second) // answers to the replay, if any, have reached the shell by now
	enter("run a command", "echo kl$((6*7))ok")
	waitFor(t, u, "the prompt after the command", doneJS("echo kl$((6*7))ok"), 10*time.Second)
	enter("show the history", "history 2")
	waitFor(t, u, "the prompt after history", doneJS("$ history 2"), 10*time.Second)

	text := eval[string](t, u, terminalTextJS)
	lines := strings.Split(text, "\n")
	var ran string // the history line of the command, without its number
	for i, l := range lines {
		if strings.HasSuffix(strings.TrimSpace(l), "$ history 2") && i+1 < len(lines) {
			if f := strings.Fields(lines[i+1]); len(f) > 1 {
				ran = strings.Join(f[1:], " ")
			}
		}
	}
	if want := "echo kl$((6*7))ok"; ran != want {
		t.Errorf("the shell ran %q, want %q: replayed output was answered into the shell", ran, want)
	}
	if !slices.Contains(lines, "kl42ok") {
		t.Error("the command's output line kl42ok is missing")
	}
	// vim's own screen is gone (alternate buffer): these can only be answers.
	for _, junk := range []string{"rgb:", "276;0c"} {
		if strings.Contains(text, junk) {
			t.Errorf("the terminal shows %q, an answer to replayed output", junk)
		}
	}
	if t.Failed() {
		t.Fatalf("terminal:\n%s", text)
	}

	// After the replay, live output is answered again.
	enter("start vim again", "vim y.yaml")
	waitFor(t, u, "vim again", `(`+terminalTextJS+`).includes('"y.yaml"')`, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	enter("show vim's termresponse again", ":echo v:termresponse")
	waitFor(t, u, "vim's termresponse after the reload", termResponseJS, 10*time.Second)
}

// TestUIActivityAndIdleWarning: interaction with the page (not keys typed
// into the terminal, which the server counts itself) tells the server the
// learner is here, at most once a minute; the idle warning stays up until
// the learner answers it or the server says they are active again; the
// expiry warning offers Extend.
func TestUIActivityAndIdleWarning(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	base := ts.client(t).base
	u := newUser(t, newBrowser(t))
	signupInBrowser(t, u, base, "idle@example.com", "Ida")
	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	click(t, u, "click Start", "#start-btn")
	waitFor(t, u, "the terminal prompt", promptJS, 90*time.Second)
	id := eval[string](t, u, sessionIDJS)

	// Count the activity calls the page makes from now on.
	eval[bool](t, u, `(() => {
		window.activityCalls = 0;
		const fetch = window.fetch;
		window.fetch = (url, init) => {
			if (String(url).endsWith('/activity') && init?.method === 'POST') window.activityCalls++;
			return fetch(url, init);
		};
		return true;
	})()`)
	calls := func() int { return eval[int](t, u, `window.activityCalls`) }
	do(t, u, "type into the terminal", chromedp.Evaluate[chromedp.Void](`document.querySelector('#terminal textarea').focus()`), chromedp.KeyEvent("x"))
	time.Sleep(300 * time.Millisecond)
	if n := calls(); n != 0 {
		t.Errorf("a key typed into the terminal made %d activity calls, want 0", n)
	}
	do(t, u, "press keys in the lesson", chromedp.Evaluate[chromedp.Void](`document.querySelector('#lesson-body').focus()`),
		chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
	waitFor(t, u, "an activity call", `window.activityCalls >= 1`, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := calls(); n != 1 {
		t.Errorf("two keys in the lesson made %d activity calls, want 1 (at most one a minute)", n)
	}

	// publish sends a session event until the page shows it (the stream
	// may still be connecting).
	publish := func(what, name string, data any, shown string) {
		t.Helper()
		for range 20 {
			ts.srv.events.publish(id, name, data)
			if ok, err := chromedp.Run(u, chromedp.Evaluate[bool](`!!(`+shown+`)`)); err == nil && ok {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		waitFor(t, u, what, shown, time.Second)
	}
	const idleShown = `!document.querySelector('#idle-banner').hidden`
	idle := map[string]any{"kind": "idle", "message": "You have been away for a while.", "time": time.Now().Add(5 * time.Minute).Format(time.RFC3339)}
	publish("the idle warning", "expiring", idle, idleShown)
	if got := eval[string](t, u, `document.querySelector('#idle-banner').textContent`); !strings.Contains(got, "You have been away for a while.") || !strings.Contains(got, "I'm still here") {
		t.Errorf("idle warning says %q, want the server's message and an I'm still here button", got)
	}
	if !eval[bool](t, u, `document.querySelector('#expiring-banner').hidden`) {
		t.Error("an idle warning showed the expiry warning too")
	}
	screenshot(t, u, "idle-warning")
	before := calls()
	click(t, u, "click I'm still here", "#idle-banner [data-still-here]")
	waitFor(t, u, "the idle warning to go away", `document.querySelector('#idle-banner').hidden`, 5*time.Second)
	if n := calls(); n != before+1 {
		t.Errorf("I'm still here made %d activity calls, want 1", n-before)
	}

	// The server saw activity elsewhere (the terminal): the warning goes.
	publish("the idle warning again", "expiring", idle, idleShown)
	ts.srv.events.publish(id, "active", struct{}{})
	waitFor(t, u, "the idle warning to go on active", `document.querySelector('#idle-banner').hidden`, 5*time.Second)

	// The sandbox's time is nearly up: the warning offers Extend and the
	// console bar shows the new expiry.
	at := time.Now().Add(4*time.Minute + 10*time.Second).UTC().Truncate(time.Second)
	publish("the expiry warning", "expiring", map[string]any{"kind": "ttl", "message": "Your sandbox expires in 4 minutes.", "time": at.Format(time.RFC3339)},
		`!document.querySelector('#expiring-banner').hidden`)
	if got := eval[string](t, u, `document.querySelector('#expiring-banner .text').textContent`); got != "Your sandbox expires in 4 minutes." {
		t.Errorf("expiry warning says %q", got)
	}
	if eval[bool](t, u, `document.querySelector('#expiring-banner [data-extend]').hidden`) {
		t.Error("the expiry warning has no Extend button")
	}
	if got, want := eval[string](t, u, `document.querySelector('#expiry time').dateTime`), at.Format("2006-01-02T15:04:05.000Z"); got != want {
		t.Errorf("console bar expiry = %q, want %q", got, want)
	}
	if got := eval[string](t, u, `document.querySelector('#expiry time').textContent`); got != "4 min left" {
		t.Errorf("console bar says %q, want %q", got, "4 min left")
	}
	if !eval[bool](t, u, idleShown+` === false`) {
		t.Error("an expiry warning showed the idle warning")
	}
}
