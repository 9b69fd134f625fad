package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUIExam walks an attempt in Chromium: start it from the exams page,
// watch the clock run once the sandbox is ready, do the first task in the
// terminal, flag another, reload (the clock and the flag stay), submit,
// and read the review; the browser reports no problem on the way.
func TestUIExam(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, withExams(t, "../labs/exams/testdata/good"))
	u, base, _ := signedUp(t, ts, "exam@example.com", "Candidate")
	do(t, u, "size the window", emulate(1400, 900, false))
	problems := watchProblems(t, u)
	do(t, u, "open the exams", chromedp.Navigate(base+"/exams"))
	click(t, u, "Start an attempt", `[data-start-exam="mini"]`)
	waitFor(t, u, "the attempt running", `location.pathname.startsWith('/exams/attempts/') &&
		document.querySelector('#exam-status').textContent === 'Running' &&
		document.querySelectorAll('.exam-task-tab').length === 3`, 60*time.Second)
	waitFor(t, u, "the clock", `/^(19|20):\d\d$/.test(document.querySelector('#exam-timer').textContent)`, 5*time.Second)
	id := eval[string](t, u, `document.querySelector('main').dataset.attempt`)
	d, err := ts.srv.drawOf(mustAttempt(t, ts, id))
	if err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, u, `document.querySelector('#exam-task h1').textContent`); !strings.Contains(got, d.chapter.Tasks[0].Title) {
		t.Errorf("the first task shows %q, want %q", got, d.chapter.Tasks[0].Title)
	}
	waitFor(t, u, "the terminal", `document.querySelector('#term-status').dataset.state === 'connected'`, 30*time.Second)
	do(t, u, "type the first task's solution", chromedp.Click(chromedp.CSS("#terminal")),
		insertText(strings.TrimSpace(d.chapter.Tasks[0].Solution)+"; echo done-$((40+2))"), chromedp.KeyEvent("\r"))
	waitFor(t, u, "the solution ran", `(`+terminalTextJS+`).includes('done-42')`, 30*time.Second)

	click(t, u, "task 2", `.exam-task-tab[data-task="`+d.chapter.Tasks[1].ID+`"]`)
	click(t, u, "flag it", `.exam-flag input`)
	waitFor(t, u, "the flag on its tab", `document.querySelector('.exam-task-tab[data-task="`+d.chapter.Tasks[1].ID+`"]').classList.contains('flagged')`, 5*time.Second)
	deadline := mustAttempt(t, ts, id).Deadline
	do(t, u, "reload", chromedp.Reload())
	waitFor(t, u, "the flag after the reload", `document.querySelector('.exam-task-tab[data-task="`+d.chapter.Tasks[1].ID+`"]')?.classList.contains('flagged')`, 20*time.Second)
	if after := mustAttempt(t, ts, id).Deadline; !after.Equal(*deadline) {
		t.Errorf("the reload moved the deadline from %v to %v", deadline, after)
	}
	screenshot(t, u, "exam-running")

	click(t, u, "Submit", "#exam-submit")
	click(t, u, "Submit, confirmed", `#confirm-submit button[value="confirm"]`)
	waitFor(t, u, "the review", `location.pathname.endsWith('/review') && !!document.querySelector('#review-percent')`, 60*time.Second)
	if got := eval[string](t, u, `document.querySelector('#review-`+d.chapter.Tasks[0].ID+`').dataset.passed`); got != "true" {
		t.Errorf("the review marks the task done as passed=%s", got)
	}
	if got := eval[string](t, u, `document.querySelector('#review-result').textContent`); got != "Not passed" {
		t.Errorf("the result reads %q", got)
	}
	if n := eval[int](t, u, `document.querySelectorAll('.review-task[data-passed="false"] .checks li:not(.ok)').length`); n == 0 {
		t.Error("the review shows no failed check for the tasks not done")
	}
	screenshot(t, u, "exam-review")

	// Retry the second task alone: the same task, a fresh sandbox.
	click(t, u, "Retry this task", `[data-retry="`+d.chapter.Tasks[1].ID+`"]`)
	waitFor(t, u, "the retry running", `location.pathname.startsWith('/exams/attempts/') && !location.pathname.includes('`+id+`') &&
		document.querySelector('#exam-status').textContent === 'Running' && document.querySelectorAll('.exam-task-tab').length === 1`, 60*time.Second)
	if got := eval[string](t, u, `document.querySelector('#exam-task h1').textContent`); !strings.Contains(got, d.chapter.Tasks[1].Title) {
		t.Errorf("the retry shows %q, want the task %q", got, d.chapter.Tasks[1].Title)
	}
	waitFor(t, u, "a retry's clock", `/^1[45]:\d\d$/.test(document.querySelector('#exam-timer').textContent)`, 5*time.Second)
	click(t, u, "Submit the retry", "#exam-submit")
	click(t, u, "Submit, confirmed", `#confirm-submit button[value="confirm"]`)
	waitFor(t, u, "the retry's review", `location.pathname.endsWith('/review') && document.querySelectorAll('.review-task').length === 1 && !document.querySelector('[data-retry]')`, 60*time.Second)

	do(t, u, "back to the exams", chromedp.Navigate(base+"/exams"))
	if got := eval[string](t, u, `document.querySelector('.exam-trend')?.textContent || ''`); !strings.Contains(got, "%") {
		t.Errorf("the exams page shows no trend of scores: %q", got)
	}
	if n := eval[int](t, u, `document.querySelectorAll('#attempts-table tbody tr').length`); n != 2 {
		t.Errorf("the attempt history has %d rows, want 2 (the attempt and its retry)", n)
	}
	problems.check(t, u, "the exam attempt")
}
