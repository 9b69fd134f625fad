package server

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUIYourLabs: at the per-learner limit, Start lists the learner's
// running labs, each with End (never "Something went wrong"); the labs
// page lists and ends them; logging out offers to end what still runs.
func TestUIYourLabs(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, withMaxPerUser(1))
	u, base, userID := signedUp(t, ts, "labs@example.com", "Lou")
	running := func() int {
		ss, err := ts.srv.sandboxes.SessionsOf(t.Context(), userID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}

	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	startToPrompt(t, u)

	do(t, u, "open chapter labels", chromedp.Navigate(base+"/chapters/labels"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	click(t, u, "Start", "#start-btn")
	waitFor(t, u, "the running labs listed", `document.querySelector('#overlay').dataset.state === 'lab-limit' &&
		document.querySelector('#lab-limit-list').textContent.includes('Pods')`, 20*time.Second)
	click(t, u, "End it and start here", "#lab-limit-list button")
	waitFor(t, u, "a prompt in the labels lab", promptJS, 60*time.Second)
	if n := running(); n != 1 {
		t.Fatalf("running labs after ending one and starting another = %d, want 1", n)
	}

	do(t, u, "open your labs", chromedp.Navigate(base+"/labs"))
	waitFor(t, u, "the labels lab listed with its time left", `document.querySelector('#labs-table')?.textContent.includes('Labels') &&
		/min left/.test(document.querySelector('time[data-until]')?.textContent || '')`, 10*time.Second)
	click(t, u, "End", "[data-end-lab]")
	waitFor(t, u, "the empty list", `!document.querySelector('#labs-empty').hidden`, 20*time.Second)
	if n := running(); n != 0 {
		t.Fatalf("running labs after End on the labs page = %d, want 0", n)
	}

	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	startToPrompt(t, u)
	click(t, u, "Log out", "[data-logout]")
	waitFor(t, u, "the question", `document.querySelector('#confirm-logout').open &&
		document.querySelector('#confirm-logout .text').textContent.includes('Pods')`, 10*time.Second)
	click(t, u, "End them and log out", `#confirm-logout button[value="end"]`)
	waitFor(t, u, "the home page, logged out", `location.pathname === '/' && !document.body.dataset.user`, 20*time.Second)
	if n := running(); n != 0 {
		t.Fatalf("running labs after logging out with End = %d, want 0", n)
	}
}
