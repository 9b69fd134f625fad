package server

import (
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUIRoughEdges: what a new user tripped over, each asserted where it
// shows. A guest lands in the first chapter, not back on the home page; a
// new account is welcomed, not welcomed back; the theme switch changes the
// theme at its first click; the current step's title is whole; the prompt
// is short and the status bar names the namespace; the terminal has no
// black strip below its rows; a Run while vim has the screen types
// nothing and says why; toasts stay off the lesson and take no clicks.
func TestUIRoughEdges(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	base := ts.client(t).base
	browser := newBrowser(t)

	g := newUser(t, browser)
	do(t, g, "open the home page", chromedp.Navigate(base+"/"))
	click(t, g, "Try without an account", `[data-guest]`)
	waitFor(t, g, "the first chapter, as a guest", `location.pathname === '/chapters/orientation' && !!document.body.dataset.user`, 10*time.Second)

	u, _, _ := signedUp(t, ts, "edges@example.com", "Edie")
	if got := eval[string](t, u, `document.querySelector('.hero-actions p.muted')?.textContent || ''`); got != "Welcome, Edie." {
		t.Errorf("greeting right after sign-up = %q, want %q", got, "Welcome, Edie.")
	}
	// Headless Chromium's system theme is light: the first click must show dark.
	was := eval[string](t, u, `getComputedStyle(document.body).backgroundColor`)
	click(t, u, "the theme switch", "#theme-toggle")
	if now := eval[string](t, u, `getComputedStyle(document.body).backgroundColor`); now == was {
		t.Errorf("the theme switch's first click left the background %s", now)
	}
	click(t, u, "the theme switch again", "#theme-toggle")

	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	if eval[bool](t, u, `(() => { const t = document.querySelector('.step-tab[aria-selected="true"] .step-title'); return t.scrollWidth > t.clientWidth; })()`) {
		t.Errorf("the current step's title is cut: %q", eval[string](t, u, `document.querySelector('.step-tab[aria-selected="true"]').title`))
	}
	startToPrompt(t, u)
	prompt := eval[string](t, u, `(`+terminalTextJS+`).trimEnd().split('\n').pop()`)
	if len(prompt) > 12 {
		t.Errorf("the prompt %q takes %d columns, want at most 12", prompt, len(prompt))
	}
	waitFor(t, u, "the namespace in the status bar", `!document.querySelector('#term-ns').hidden &&
		/^namespace kl-/.test(document.querySelector('#term-ns').textContent)`, 10*time.Second)
	// Below the rows, the terminal's own background, not black.
	if got := eval[string](t, u, `(() => {
		const host = document.querySelector('#terminal').getBoundingClientRect();
		let el = document.elementFromPoint(host.left + 30, host.bottom - 3);
		while (el && getComputedStyle(el).backgroundColor === 'rgba(0, 0, 0, 0)') el = el.parentElement;
		return el ? getComputedStyle(el).backgroundColor : 'none';
	})()`); got != "rgb(30, 30, 46)" {
		t.Errorf("below the terminal's rows the background is %s, want rgb(30, 30, 46)", got)
	}

	// Run while vim has the screen: nothing typed, a sentence instead.
	do(t, u, "start vim", chromedp.Click(chromedp.CSS("#terminal")), insertText("vim notes.txt"), chromedp.KeyEvent("\r"))
	waitFor(t, u, "vim", `(`+terminalTextJS+`).includes('"notes.txt"')`, 20*time.Second)
	click(t, u, "a Run button", `#step-01-first-pod button[data-run]`)
	waitFor(t, u, "the toast saying why", `document.querySelector('#toast')?.textContent.includes('full-screen program')`, 5*time.Second)
	if eval[bool](t, u, `(`+terminalTextJS+`).includes('kubectl')`) {
		t.Error("Run typed into vim")
	}
	// The toast is over the terminal, not the lesson, and takes no clicks.
	if eval[bool](t, u, `(() => {
		const toast = document.querySelector('#toast').getBoundingClientRect();
		const lesson = document.querySelector('#lesson').getBoundingClientRect();
		return toast.left < lesson.right || getComputedStyle(document.querySelector('#toast')).pointerEvents !== 'none';
	})()`) {
		t.Error("the toast covers the lesson or takes clicks")
	}
	// A half-typed line is cleared before a Run types its command.
	do(t, u, "quit vim, half type a command", insertText(":q!"), chromedp.KeyEvent("\r"), insertText("echo half-typed"))
	time.Sleep(300 * time.Millisecond)
	click(t, u, "the Run button again", `#step-01-first-pod button[data-run]`)
	waitFor(t, u, "the command ran alone", `(`+terminalTextJS+`).includes('kubectl') && !(`+terminalTextJS+`).includes('half-typedkubectl')`, 10*time.Second)

	// Extend until the lifetime cap: the time left keeps one format, and at
	// the cap Extend is disabled and says why.
	for i := 0; !eval[bool](t, u, `document.querySelector('#extend-btn').disabled`); i++ {
		if i == 20 {
			t.Fatal("Extend never reached the lifetime cap")
		}
		click(t, u, "Extend", "#extend-btn")
		waitFor(t, u, "Extend done", `!document.querySelector('#extend-btn').hasAttribute('aria-busy')`, 10*time.Second)
		if got := eval[string](t, u, `document.querySelector('#expiry time').textContent`); !regexp.MustCompile(`^(\d+ h )?\d+ min left$`).MatchString(got) {
			t.Errorf("after Extend the time left reads %q", got)
		}
	}
	if got := eval[string](t, u, `document.querySelector('#extend-btn').title`); got != errExtendLimit.message {
		t.Errorf("the capped Extend button says %q, want %q", got, errExtendLimit.message)
	}
}
