package server

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUISolution: "Show solution" asks first, records the reveal in the
// learner's progress, and shows the solution with a Run button that types
// it into the shell, where it passes the task. A reload remembers the
// reveal and does not ask again.
func TestUISolution(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	u, base, userID := signedUp(t, ts, "solution@example.com", "Sol")
	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	startToPrompt(t, u)

	const task = `#task-run-hello-web`
	// The task list in view first: the dock at the lesson's foot leaves
	// then, and cannot move the button under the mouse.
	taskInView := func() {
		eval[bool](t, u, `(document.querySelector('`+task+`').scrollIntoView({block: 'center'}), true)`)
		waitFor(t, u, "the dock gone", `document.querySelector('#task-dock').hidden`, 10*time.Second)
	}
	taskInView()
	click(t, u, "Show solution", task+` [data-solution]`)
	waitFor(t, u, "the question", `document.querySelector('#confirm-solution').open`, 5*time.Second)
	click(t, u, "Not yet", `#confirm-solution button[value="cancel"]`)
	waitFor(t, u, "the question closed, nothing shown", `!document.querySelector('#confirm-solution').open &&
		!document.querySelector('`+task+` .codeblock.solution')`, 5*time.Second)
	rows, err := ts.store.ChapterProgress(t.Context(), userID, "pods")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.SolutionRevealedAt != nil {
			t.Fatalf("a declined reveal was recorded: %+v", r)
		}
	}

	click(t, u, "Show solution", task+` [data-solution]`)
	click(t, u, "Show the solution", `#confirm-solution button[value="confirm"]`)
	waitFor(t, u, "the solution with Run", `document.querySelector('`+task+` .codeblock.solution code')?.textContent.includes('kubectl run hello-web') &&
		!!document.querySelector('`+task+` .codeblock.solution button.run')`, 10*time.Second)
	click(t, u, "Run", task+` .codeblock.solution button.run`)
	waitFor(t, u, "the task passed", `document.querySelector('`+task+`').dataset.status === 'passed'`, 30*time.Second)

	rows, err = ts.store.ChapterProgress(t.Context(), userID, "pods")
	if err != nil {
		t.Fatal(err)
	}
	revealed := false
	for _, r := range rows {
		revealed = revealed || r.Task == "run-hello-web" && r.SolutionRevealedAt != nil
	}
	if !revealed {
		t.Fatalf("the reveal is not in the learner's progress: %+v", rows)
	}

	do(t, u, "reload", chromedp.Reload())
	waitFor(t, u, "the button remembers", `document.querySelector('`+task+` [data-solution]')?.textContent === 'Show the solution again'`, 10*time.Second)
	// The page's scripts have run once the terminal is back: a click before
	// that lands on a button nothing listens to yet.
	waitFor(t, u, "the terminal back", `document.querySelector('#term-status').dataset.state === 'connected'`, 20*time.Second)
	taskInView()
	click(t, u, "Show the solution again", task+` [data-solution]`)
	waitFor(t, u, "the solution, without a question", `!document.querySelector('#confirm-solution').open &&
		!!document.querySelector('`+task+` .codeblock.solution')`, 10*time.Second)
}
