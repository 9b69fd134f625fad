package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kubelab/kubelab/server/store"
)

// TestUITasksInView: the current step's tasks stay in view at the foot of
// the lesson (and leave when the step's own list is on screen), a step
// without tasks counts as done once read, and the last task passed brings
// the chapter-complete moment with the next chapter.
func TestUITasksInView(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	u, base, userID := signedUp(t, ts, "dock@example.com", "Dee")
	// Every task but the first passed earlier.
	var rows []store.TaskResultRow
	for _, task := range []string{"declarative-pod", "ports-and-requests", "pods-come-back", "whoami-deployment"} {
		rows = append(rows, store.TaskResultRow{Task: task, Passed: true, Score: 1})
	}
	if err := ts.store.RecordTaskResults(t.Context(), userID, "pods", rows); err != nil {
		t.Fatal(err)
	}

	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods#01-first-pod"))
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	dock := `document.querySelector('#task-dock')`
	// The page itself never scrolls: only the lesson and the terminal do
	// (hidden labels deep in the lesson once stretched it, and scrolling a
	// task into view moved the whole page).
	if h := eval[string](t, u, `JSON.stringify([document.scrollingElement.scrollHeight, innerHeight])`); eval[bool](t, u, `document.scrollingElement.scrollHeight > innerHeight`) {
		t.Errorf("the chapter page is taller than the window: [scrollHeight, innerHeight] = %s", h)
	}
	eval[bool](t, u, `(document.querySelector('#lesson-body').scrollTop = 0, true)`)
	waitFor(t, u, "the dock with the step's task", dock+`.hidden === false &&
		document.querySelector('#task-dock .task-chip')?.textContent.includes('hello-web')`, 10*time.Second)
	click(t, u, "the task's chip", "#task-dock .task-chip")
	waitFor(t, u, "the dock gone while the list shows, the page itself unmoved", dock+`.hidden === true && document.scrollingElement.scrollTop === 0`, 10*time.Second)

	click(t, u, "the step without tasks", `#tab-03-inside-a-pod`)
	waitFor(t, u, "it counts as done once read", `document.querySelector('#tab-03-inside-a-pod').classList.contains('done')`, 5*time.Second)
	waitFor(t, u, "no dock on a step without tasks", dock+`.hidden === true`, 5*time.Second)

	click(t, u, "back to the first step", `#tab-01-first-pod`)
	startToPrompt(t, u)
	do(t, u, "type the first task's solution", chromedp.Click(chromedp.CSS("#terminal")),
		insertText("kubectl run hello-web --image=nginx:1.27 --restart=Never"), chromedp.KeyEvent("\r"))
	waitFor(t, u, "the chapter-complete moment with the next chapter", `document.querySelector('#chapter-done').open &&
		document.querySelector('#chapter-done a.primary').getAttribute('href') === '/chapters/labels'`, 30*time.Second)
	if got := eval[string](t, u, `document.querySelector('#chapter-done a.primary').textContent`); got != fmt.Sprintf("Next: %s →", "Labels, selectors and annotations") {
		t.Errorf("next chapter action = %q", got)
	}
}
