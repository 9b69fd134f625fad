package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kubelab/kubelab/server/store"
)

// TestUIWorkshopInstructor runs a workshop from the instructor's browser:
// the instructor makes an event in the page; a guest (with a display name)
// and a learner with an account join with its code in browsers of their
// own; the guest does a task in the terminal and the instructor's grid
// turns the cell green without a reload; names are hidden for screen
// sharing; everyone's labs are extended; the guest's terminal is watched
// (what they type shows in the mirror); the CSV export downloads with a
// row per learner and task. A learner gets the 404 page for the event's
// page. The instructor's browser reports no problem on the way.
func TestUIWorkshopInstructor(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	teach, base, teacherID := signedUp(t, ts, "teach@example.com", "Tess Teacher")
	if _, err := ts.store.SetRole(t.Context(), teacherID, store.RoleInstructor); err != nil {
		t.Fatalf("make an instructor: %v", err)
	}
	do(t, teach, "size the window", emulate(1400, 900, false))
	problems := watchProblems(t, teach)

	// The instructor makes an event in the page.
	do(t, teach, "open the events", chromedp.Navigate(base+"/events"))
	waitFor(t, teach, "the events list", `document.querySelector('#events-loading').hidden && !document.querySelector('#events-empty').hidden`, 10*time.Second)
	do(t, teach, "fill in the event",
		chromedp.SendKeys(chromedp.ID("ev-title"), "Pods, Tuesday"),
		chromedp.SetValue(chromedp.CSS(`#event-form select[name="add-chapter"]`), "pods"),
	)
	click(t, teach, "add the chapter", "#event-form [data-add-chapter]")
	waitFor(t, teach, "the chapter chosen", `[...document.querySelectorAll('#event-form .picked-chapter')].map(li => li.dataset.chapter).join() === 'pods'`, 5*time.Second)
	do(t, teach, "set the seats", chromedp.SetValue(chromedp.ID("ev-seats"), "5"))
	screenshot(t, teach, "events-form")
	click(t, teach, "create the event", `#event-form button[type="submit"]`)
	waitFor(t, teach, "the event's page with its code", `location.pathname.startsWith('/events/') &&
		/^[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(document.querySelector('#join-code').textContent)`, 15*time.Second)
	eventID := eval[string](t, teach, `document.querySelector('main').dataset.event`)
	code := eval[string](t, teach, `document.querySelector('#join-code').textContent`)
	if got := eval[string](t, teach, `document.querySelector('#join-url').textContent`); got != base+"/join/"+code {
		t.Errorf("join URL shown = %q, want %q", got, base+"/join/"+code)
	}
	waitFor(t, teach, "the grid's stream", `document.querySelector('#stream-status').dataset.state === 'live'`, 10*time.Second)
	eval[bool](t, teach, `window.__sameDocument = true`)

	// A guest joins from the join link, with a display name.
	gwen := newUser(t, teach)
	do(t, gwen, "open the join link", chromedp.Navigate(base+"/join/"+code))
	waitFor(t, gwen, "the join form", `document.querySelector('#join-code-input')?.value === '`+code+`' && !!document.querySelector('#join-name')`, 10*time.Second)
	do(t, gwen, "enter a name", chromedp.SendKeys(chromedp.ID("join-name"), "Gwen Guest"))
	screenshot(t, gwen, "join-guest")
	click(t, gwen, "join", `#join-form button[type="submit"]`)
	waitFor(t, gwen, "the event's first chapter", `location.pathname === '/chapters/pods'`, 15*time.Second)
	gwenID := eval[string](t, gwen, `document.body.dataset.user`)

	// A learner with an account types the code on the join page.
	ada := newUser(t, teach)
	signupInBrowser(t, ada, base, "ada@example.com", "Ada Account")
	adaID := eval[string](t, ada, `document.body.dataset.user`)
	do(t, ada, "open the join page", chromedp.Navigate(base+"/join"))
	waitFor(t, ada, "the join form", `!!document.querySelector('#join-code-input') && !document.querySelector('#join-name')`, 10*time.Second)
	do(t, ada, "enter the code", chromedp.SendKeys(chromedp.ID("join-code-input"), strings.ToLower(code)))
	click(t, ada, "join", `#join-form button[type="submit"]`)
	waitFor(t, ada, "the event's first chapter", `location.pathname === '/chapters/pods'`, 15*time.Second)

	// Both appear in the instructor's grid, pushed by the stream.
	waitFor(t, teach, "both learners in the grid", rowJS(gwenID)+` && `+rowJS(adaID), 15*time.Second)
	if got := eval[string](t, teach, rowJS(gwenID)+`.querySelector('.learner-name').textContent`); got != "Gwen Guest" {
		t.Errorf("the guest's row is named %q, want Gwen Guest", got)
	}

	// The guest does the chapter's first task in the terminal: the
	// instructor's cell turns passed, with no reload.
	ch, err := ts.srv.Chapter("pods")
	if err != nil {
		t.Fatal(err)
	}
	task := ch.Tasks[0]
	cellJS := fmt.Sprintf(`%s?.querySelector('td[data-task="pods/%s"]')?.dataset.state`, rowJS(gwenID), task.ID)
	if got := eval[string](t, teach, `String(`+cellJS+`)`); got == "passed" {
		t.Fatalf("the cell of task %s is passed before the task is done", task.ID)
	}
	waitFor(t, gwen, "the start button", startReadyJS, 10*time.Second)
	click(t, gwen, "Start", "#start-btn")
	waitFor(t, gwen, "the prompt", promptJS, 90*time.Second)
	do(t, gwen, "type the solution", chromedp.Click(chromedp.CSS("#terminal")),
		insertText(strings.TrimSpace(task.Solution)), chromedp.KeyEvent("\r"))
	took := waitFor(t, teach, "the guest's cell passed", cellJS+` === 'passed'`, 60*time.Second)
	t.Logf("measure: solution typed → the instructor's cell passed: %s", took.Round(time.Millisecond))
	if !eval[bool](t, teach, `window.__sameDocument === true`) {
		t.Error("the event page was reloaded; the grid must change in place")
	}
	if got := eval[string](t, teach, `document.querySelector('#grid th.task-col[data-task="pods/`+task.ID+`"] .task-rate').textContent`); got != "50%" {
		t.Errorf("the task's pass rate reads %q, want 50%% (one of two learners)", got)
	}
	screenshot(t, teach, "event-grid")
	sortBy := func(how string) string {
		t.Helper()
		return eval[string](t, teach, `(() => {
			const s = document.querySelector('#grid-sort');
			s.value = '`+how+`';
			s.dispatchEvent(new Event('change'));
			return document.querySelector('#grid tbody tr').dataset.learner;
		})()`)
	}
	if first := sortBy("progress"); first != gwenID {
		t.Errorf("sorted by progress, the first row is %s, want the guest's %s (1 task passed)", first, gwenID)
	}
	if first := sortBy("name"); first != adaID {
		t.Errorf("sorted by name, the first row is %s, want Ada's %s", first, adaID)
	}
	setTheme(t, teach, "dark")
	time.Sleep(300 * time.Millisecond) // the buttons' colour transitions
	screenshot(t, teach, "event-grid-dark")
	setTheme(t, teach, "light")

	// Hide names: Learner 1 and Learner 2 by the order of joining, and no
	// name left in the grid.
	click(t, teach, "hide names", "#hide-names")
	waitFor(t, teach, "names hidden", rowJS(gwenID)+`.querySelector('.learner-name').textContent === 'Learner 1'`, 5*time.Second)
	if got := eval[string](t, teach, rowJS(adaID)+`.querySelector('.learner-name').textContent`); got != "Learner 2" {
		t.Errorf("the second learner is shown as %q, want Learner 2", got)
	}
	grid := eval[string](t, teach, `document.querySelector('#grid').innerText + [...document.querySelectorAll('#grid [title], #grid [aria-label]')].map(e => (e.title || '') + (e.getAttribute('aria-label') || '')).join(' ')`)
	for _, name := range []string{"Gwen", "Ada"} {
		if strings.Contains(grid, name) {
			t.Errorf("with names hidden the grid still shows %q", name)
		}
	}
	screenshot(t, teach, "event-names-hidden")
	click(t, teach, "show names", "#hide-names")
	waitFor(t, teach, "names shown", rowJS(gwenID)+`.querySelector('.learner-name').textContent === 'Gwen Guest'`, 5*time.Second)

	// Extend everyone's lab: confirmed first, then the result (the account
	// has no lab yet, so it fails for them).
	expiryJS := rowJS(gwenID) + `.querySelector('time.lab-expiry')?.dateTime || ''`
	waitFor(t, teach, "the guest's lab expiry", expiryJS, 10*time.Second)
	before := eval[string](t, teach, expiryJS)
	click(t, teach, "Extend for everyone", `[data-bulk="extend"]`)
	waitFor(t, teach, "the confirmation", `document.querySelector('#confirm-action').open`, 5*time.Second)
	click(t, teach, "confirm", `#confirm-action button[value="confirm"]`)
	waitFor(t, teach, "the result", `!document.querySelector('#action-result').hidden && document.querySelector('#action-result').dataset.state !== 'busy'`, 30*time.Second)
	result := eval[string](t, teach, `document.querySelector('#action-result').textContent`)
	if !strings.Contains(result, "Extend for everyone: done for 1, failed for 1.") || !strings.Contains(result, "Ada Account") {
		t.Errorf("the bulk extend's result reads %q, want done for the guest and failed for the learner without a lab", result)
	}
	waitFor(t, teach, "the later expiry", fmt.Sprintf(`Date.parse(%s) > Date.parse(%q)`, expiryJS, before), 10*time.Second)

	// Watch the guest's terminal: what they type appears in the mirror.
	click(t, teach, "the guest's actions", rowCSS(gwenID)+" .row-menu-btn")
	// The whole grid is drawn anew when its stream reconnects (a watcher
	// that fell behind is cut off) or the sort changes: the menu the
	// instructor has open stays open.
	menuOpenJS := fmt.Sprintf(`document.querySelector('[id="menu-%s"]').matches(':popover-open')`, gwenID)
	waitFor(t, teach, "the guest's menu open", menuOpenJS, 5*time.Second)
	eval[bool](t, teach, `(() => {
		const s = document.querySelector('#grid-sort');
		s.value = s.value === 'progress' ? 'name' : 'progress';
		s.dispatchEvent(new Event('change'));
		return true;
	})()`)
	if !eval[bool](t, teach, menuOpenJS) {
		t.Errorf("redrawing the grid closed the row menu the instructor had open")
	}
	click(t, teach, "Watch terminal", fmt.Sprintf(`[id="menu-%s"] [data-act="watch"]`, gwenID))
	waitFor(t, teach, "the mirror", `document.querySelector('#watch-dialog').open && document.querySelector('#watch-status').dataset.state === 'connected'`, 30*time.Second)
	do(t, gwen, "type while watched", chromedp.Click(chromedp.CSS("#terminal")), insertText("echo mirror-$((6*7))"), chromedp.KeyEvent("\r"))
	waitFor(t, teach, "the output in the mirror", `(() => {
		const s = document.querySelector('#watch-screens .watch-screen');
		return ((s?.querySelector('.xterm-rows')?.innerText || '') + (s?.querySelector('.xterm-accessibility')?.innerText || '')).includes('mirror-42');
	})()`, 20*time.Second)
	screenshot(t, teach, "event-watch")
	click(t, teach, "close the mirror", "#watch-close")
	waitFor(t, teach, "the mirror closed", `!document.querySelector('#watch-dialog').open && !document.querySelector('#watch-screens .watch-screen')`, 5*time.Second)

	// The CSV export downloads, with a row per learner and task.
	rows := downloadCSV(t, teach, "#export-csv")
	if len(rows) != 1+2*len(ch.Tasks) {
		t.Errorf("the CSV has %d lines, want a header and %d rows (2 learners × %d tasks)", len(rows), 2*len(ch.Tasks), len(ch.Tasks))
	}
	passed := slices.ContainsFunc(rows, func(r []string) bool {
		return slices.Contains(r, "Gwen Guest") && slices.Contains(r, task.ID) && slices.Contains(r, "passed")
	})
	if !passed {
		t.Errorf("the CSV has no row of Gwen Guest passing %s:\n%v", task.ID, rows)
	}

	// A learner opening the event's page gets the 404 page.
	do(t, ada, "open the event's page", chromedp.Navigate(base+"/events/"+eventID))
	waitFor(t, ada, "the 404 page", `document.querySelector('main h1')?.textContent === 'Page not found'`, 10*time.Second)
	if st := eval[int](t, ada, `fetch(location.href).then(r => r.status)`); st != 404 {
		t.Errorf("a learner's GET /events/%s = %d, want 404", eventID, st)
	}
	if st := eval[int](t, ada, `fetch('/events').then(r => r.status)`); st != 404 {
		t.Errorf("a learner's GET /events = %d, want 404", st)
	}
	if n := eval[int](t, ada, `document.querySelectorAll('.mainnav a[href="/events"]').length`); n != 0 {
		t.Error("a learner's top bar links to Events")
	}
	problems.check(t, teach, "the instructor's pages")
}

// TestUIWorkshopInstructorTools walks the rest of an instructor's tools:
// the events list, the projector view, seat codes (printable, and good for
// one join), the join page's refusals, a raised hand and lowering it, a
// message to the room, fast-forwarding one learner, taking over a
// terminal once the learner accepts, editing and ending the event; and
// the admin's page that makes a learner an instructor.
func TestUIWorkshopInstructorTools(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	teach, base, teacherID := signedUp(t, ts, "teach2@example.com", "Theo Teacher")
	if _, err := ts.store.SetRole(t.Context(), teacherID, store.RoleInstructor); err != nil {
		t.Fatalf("make an instructor: %v", err)
	}
	do(t, teach, "size the window", emulate(1400, 900, false))
	problems := watchProblems(t, teach)
	do(t, teach, "open the events", chromedp.Navigate(base+"/events"))
	eventID := eval[string](t, teach, `fetch('/api/v1/events', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({title: 'Morning pods', chapters: ['pods'], seats: 3})}).then(r => r.json()).then(e => e.id)`)
	do(t, teach, "reload the events", chromedp.Reload())
	waitFor(t, teach, "the event in the list", `document.querySelector('#events-table tbody tr[data-event="`+eventID+`"] a')?.textContent === 'Morning pods'`, 10*time.Second)
	screenshot(t, teach, "events-list")
	click(t, teach, "open the event", `#events-table tbody tr[data-event="`+eventID+`"] a`)
	waitFor(t, teach, "the event's page", `document.querySelector('#stream-status').dataset.state === 'live' && !!document.querySelector('#join-code').textContent.match(/^[A-Z0-9]{4}-/)`, 15*time.Second)
	code := eval[string](t, teach, `document.querySelector('#join-code').textContent`)

	// The projector view shows the code, big.
	click(t, teach, "Show on the projector", "#project-join")
	waitFor(t, teach, "the projector view", `document.querySelector('#projector').open && document.querySelector('#projector-code').textContent === '`+code+`'`, 5*time.Second)
	screenshot(t, teach, "event-projector")
	click(t, teach, "close the projector view", `#projector button[value="close"]`)

	// Two seat codes, printable as cards; one lets a learner in, once.
	do(t, teach, "ask for two seat codes", chromedp.SetValue(chromedp.ID("seat-count"), "2"))
	click(t, teach, "make the codes", `#seats-form button[type="submit"]`)
	waitFor(t, teach, "the seat codes", `document.querySelectorAll('#seat-list li').length === 2`, 10*time.Second)
	seat := eval[string](t, teach, `document.querySelector('#seat-list li').textContent`)
	do(t, teach, "print the seat codes", chromedp.Evaluate[chromedp.Void](`document.body.classList.add('print-seats')`),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
			return err
		}))
	if !eval[bool](t, teach, `getComputedStyle(document.querySelector('#seat-sheet')).display === 'grid' && getComputedStyle(document.querySelector('main')).display === 'none' && document.querySelectorAll('.seat-card').length === 2`) {
		t.Error("printed, the page is not the sheet of seat codes alone")
	}
	screenshot(t, teach, "seat-codes-print")
	do(t, teach, "back to the screen", chromedp.Evaluate[chromedp.Void](`document.body.classList.remove('print-seats')`),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
			return err
		}))

	joinWith := func(u context.Context, code string) {
		t.Helper()
		do(t, u, "open the join page", chromedp.Navigate(base+"/join"))
		waitFor(t, u, "the join form", `!!document.querySelector('#join-code-input')`, 10*time.Second)
		do(t, u, "enter the code", chromedp.SetValue(chromedp.ID("join-code-input"), code))
		click(t, u, "join", `#join-form button[type="submit"]`)
	}
	refusedJS := func(text string) string {
		return `!document.querySelector('#join-form .form-error').hidden && document.querySelector('#join-form .form-error').textContent.startsWith(` + fmt.Sprintf("%q", text) + `)`
	}
	lee := newUser(t, teach)
	signupInBrowser(t, lee, base, "lee@example.com", "Lee Learner")
	joinWith(lee, "ZZZZ-ZZZZ")
	waitFor(t, lee, "the refusal of an unknown code", refusedJS("No event has this code."), 10*time.Second)
	joinWith(lee, seat)
	waitFor(t, lee, "the event's chapter", `location.pathname === '/chapters/pods'`, 15*time.Second)
	leeID := eval[string](t, lee, `document.body.dataset.user`)
	sam := newUser(t, teach)
	signupInBrowser(t, sam, base, "sam@example.com", "Sam Second")
	joinWith(sam, seat)
	waitFor(t, sam, "the refusal of a used seat code", refusedJS("No event has this code."), 10*time.Second)
	joinWith(sam, code)
	waitFor(t, sam, "the event's chapter", `location.pathname === '/chapters/pods'`, 15*time.Second)
	waitFor(t, teach, "both learners in the grid", `document.querySelectorAll('#grid tbody tr').length === 2`, 15*time.Second)

	// Lee starts the lab and raises a hand: the grid shows it, with the
	// message; the instructor lowers it.
	waitFor(t, lee, "the start button", startReadyJS, 10*time.Second)
	click(t, lee, "Start", "#start-btn")
	waitFor(t, lee, "the prompt", promptJS, 90*time.Second)
	session := eval[string](t, lee, sessionIDJS)
	do(t, lee, "type a command", chromedp.Click(chromedp.CSS("#terminal")), insertText("kubectl get pods"), chromedp.KeyEvent("\r"))
	time.Sleep(300 * time.Millisecond)
	if st := eval[int](t, lee, `fetch('/api/v1/sessions/`+session+`/hand', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({message: 'My pod will not start'})}).then(r => r.status)`); st != 201 {
		t.Fatalf("raise a hand: %d", st)
	}
	waitFor(t, teach, "the raised hand", rowJS(leeID)+`?.querySelector('.hand-flag')`, 10*time.Second)
	click(t, teach, "open the hand", rowCSS(leeID)+" .hand-flag")
	waitFor(t, teach, "the hand's details", `document.querySelector('[id="hand-`+leeID+`"]').matches(':popover-open')`, 5*time.Second)
	hand := eval[string](t, teach, `document.querySelector('[id="hand-`+leeID+`"]').textContent`)
	for _, want := range []string{"My pod will not start", "kubectl get pods"} {
		if !strings.Contains(hand, want) {
			t.Errorf("the hand's details lack %q: %q", want, hand)
		}
	}
	screenshot(t, teach, "event-hand")
	click(t, teach, "Lower hand", `[id="hand-`+leeID+`"] [data-act="lower-hand"]`)
	waitFor(t, teach, "the hand lowered", `!`+rowJS(leeID)+`.querySelector('.hand-flag')`, 10*time.Second)

	// A message to the room.
	do(t, teach, "write a message", chromedp.SendKeys(chromedp.ID("broadcast-message"), "Break until 11:00."))
	click(t, teach, "send it", `#broadcast-form button[type="submit"]`)
	waitFor(t, teach, "sent", `/^Sent to \d+ learners?\.$/.test(document.querySelector('#broadcast-form .form-ok').textContent) && !document.querySelector('#broadcast-form .form-ok').hidden`, 10*time.Second)

	// Fast-forward Lee to the third task: the two before it pass.
	ch, err := ts.srv.Chapter("pods")
	if err != nil {
		t.Fatal(err)
	}
	click(t, teach, "Lee's actions", rowCSS(leeID)+" .row-menu-btn")
	screenshot(t, teach, "event-row-menu")
	click(t, teach, "Fast-forward", fmt.Sprintf(`[id="menu-%s"] [data-act="fast-forward"]`, leeID))
	waitFor(t, teach, "the task picker", `document.querySelector('#ff-dialog').open`, 5*time.Second)
	do(t, teach, "pick the third task", chromedp.SetValue(chromedp.ID("ff-task"), "pods/"+ch.Tasks[2].ID))
	click(t, teach, "fast-forward", `#ff-dialog button[value="confirm"]`)
	waitFor(t, teach, "the result", `document.querySelector('#action-result').dataset.state === 'ok'`, 90*time.Second)
	for _, task := range ch.Tasks[:2] {
		waitFor(t, teach, "task "+task.ID+" passed", rowJS(leeID)+`.querySelector('td[data-task="pods/`+task.ID+`"]').dataset.state === 'passed'`, 30*time.Second)
	}

	// Take over Lee's terminal: refused until Lee accepts, then typing.
	// (Refused websockets are reported by the browser: the problems are
	// checked before.)
	problems.check(t, teach, "the instructor's pages before the take-over")
	click(t, teach, "Lee's actions", rowCSS(leeID)+" .row-menu-btn")
	click(t, teach, "Watch terminal", fmt.Sprintf(`[id="menu-%s"] [data-act="watch"]`, leeID))
	waitFor(t, teach, "the mirror", `document.querySelector('#watch-status').dataset.state === 'connected'`, 30*time.Second)
	click(t, teach, "Take over", "#takeover-btn")
	waitFor(t, teach, "the request sent", `document.querySelector('#watch-note').textContent.startsWith('Asked Lee Learner')`, 10*time.Second)
	time.Sleep(time.Second) // the page tries, and is refused, before the answer
	if !eval[bool](t, teach, `document.querySelector('#release-btn').hidden`) {
		t.Fatal("the page types in the terminal before the learner accepted")
	}
	if st := eval[int](t, lee, `fetch('/api/v1/sessions/`+session+`/takeover', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({accept: true})}).then(r => r.status)`); st != 204 {
		t.Fatalf("accept the take-over: %d", st)
	}
	waitFor(t, teach, "typing allowed", `!document.querySelector('#release-btn').hidden && document.querySelector('#watch-status').dataset.state === 'connected'`, 30*time.Second)
	do(t, teach, "type in Lee's terminal", chromedp.Click(chromedp.CSS("#watch-screens .watch-screen")), insertText("echo taken-$((40+2))"), chromedp.KeyEvent("\r"))
	waitFor(t, lee, "the instructor's command in Lee's terminal", `(`+terminalTextJS+`).includes('taken-42')`, 20*time.Second)
	screenshot(t, teach, "event-takeover")
	click(t, teach, "Stop typing", "#release-btn")
	waitFor(t, teach, "read-only again", `document.querySelector('#watch-status').dataset.state === 'connected' && !document.querySelector('#takeover-btn').hidden`, 20*time.Second)
	click(t, teach, "close the mirror", "#watch-close")

	// Edit the title, then end the event: nobody joins any more.
	click(t, teach, "Edit", "#edit-event")
	waitFor(t, teach, "the edit dialog", `document.querySelector('#edit-dialog').open && document.querySelector('#ev-title').value === 'Morning pods'`, 5*time.Second)
	do(t, teach, "change the title", chromedp.SetValue(chromedp.ID("ev-title"), "Morning pods (room 2)"))
	click(t, teach, "Save", `#edit-form button[type="submit"]`)
	waitFor(t, teach, "the new title", `document.querySelector('#event-title').textContent === 'Morning pods (room 2)' && !document.querySelector('#edit-dialog').open`, 10*time.Second)
	click(t, teach, "End now", "#end-event")
	click(t, teach, "confirm", `#confirm-action button[value="confirm"]`)
	waitFor(t, teach, "the event ended", `document.querySelector('#event-status').dataset.status === 'ended'`, 30*time.Second)
	late := newUser(t, teach)
	do(t, late, "open the join link", chromedp.Navigate(base+"/join/"+code))
	waitFor(t, late, "the join form", `!!document.querySelector('#join-name')`, 10*time.Second)
	do(t, late, "enter a name", chromedp.SendKeys(chromedp.ID("join-name"), "Late Larry"))
	click(t, late, "join", `#join-form button[type="submit"]`)
	waitFor(t, late, "the refusal of an ended event", refusedJS("This event has ended."), 10*time.Second)
	screenshot(t, late, "join-ended")

	// The admin makes Sam an instructor; the instructor has no admin page.
	if st := eval[int](t, teach, `fetch('/admin/users').then(r => r.status)`); st != 404 {
		t.Errorf("an instructor's GET /admin/users = %d, want 404", st)
	}
	if _, err := ts.store.CreateUser(t.Context(), store.NewUser{Email: "root@example.com", Name: "Root", PasswordHash: HashPassword("correct horse battery"), Admin: true}); err != nil {
		t.Fatal(err)
	}
	root := newUser(t, teach)
	do(t, root, "log in", chromedp.Navigate(base+"/login?next=/admin/users"),
		chromedp.SendKeys(chromedp.ID("email"), "root@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	waitFor(t, root, "the users page", `location.pathname === '/admin/users' && document.querySelectorAll('#users-table tbody tr').length >= 3`, 15*time.Second)
	do(t, root, "search for Sam", chromedp.SendKeys(chromedp.ID("user-q"), "sam@"))
	click(t, root, "search", `#user-search button[type="submit"]`)
	waitFor(t, root, "Sam alone", `document.querySelectorAll('#users-table tbody tr').length === 1 && document.querySelector('#users-table tbody th').textContent === 'Sam Second'`, 10*time.Second)
	click(t, root, "Make instructor", `#users-table [data-set-role="instructor"]`)
	waitFor(t, root, "Sam an instructor", `document.querySelector('#users-table [data-role]').dataset.role === 'instructor'`, 10*time.Second)
	screenshot(t, root, "admin-users")
	do(t, sam, "open the events", chromedp.Navigate(base+"/events"))
	waitFor(t, sam, "Sam's events page", `document.querySelector('main h1')?.textContent === 'Events' && !!document.querySelector('.mainnav a[href="/events"]')`, 10*time.Second)
}

// rowCSS is the CSS selector of a learner's row in the grid.
func rowCSS(id string) string { return fmt.Sprintf(`#grid tbody tr[data-learner="%s"]`, id) }

// rowJS is a learner's row in the grid, in JavaScript.
func rowJS(id string) string { return fmt.Sprintf(`document.querySelector('%s')`, rowCSS(id)) }

// downloadCSV clicks the link css in the page and returns the CSV file the
// browser downloaded.
func downloadCSV(t *testing.T, ctx context.Context, css string) [][]string {
	t.Helper()
	dir := t.TempDir()
	progress := chromedp.Events(bounded(t, ctx), browser.DownloadProgress)
	enabled := true
	do(t, ctx, "allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &enabled,
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		})
		return err
	}))
	click(t, ctx, "the export link", css)
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download %s: %v", css, err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("download %s: canceled", css)
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			t.Fatalf("read the download: %v", err)
		}
		rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatalf("the download is no CSV: %v\n%s", err, b)
		}
		return rows
	}
	t.Fatalf("download %s: never completed", css)
	return nil
}

// TestWorkshopPagesAccess: who gets which workshop page. Anonymous
// visitors are sent to log in (but may open the join page, which asks for
// a name); learners get the 404 page for every instructor page; an
// instructor gets another instructor's event as a 404; only admins have
// the users page.
func TestWorkshopPagesAccess(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	anon := ts.client(t)
	learner := signupPageUser(t, ts.client(t), "learner@example.com", "Lou")
	instructor := func(email, name string) *testClient {
		t.Helper()
		c := signupPageUser(t, ts.client(t), email, name)
		_, body := c.do(t, "GET", "/api/v1/me", nil)
		var me struct{ ID string }
		if err := json.Unmarshal(body, &me); err != nil || me.ID == "" {
			t.Fatalf("me of %s: %v %s", email, err, body)
		}
		if _, err := ts.store.SetRole(t.Context(), me.ID, store.RoleInstructor); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ines, otto := instructor("ines@example.com", "Ines"), instructor("otto@example.com", "Otto")
	res, body := ines.do(t, "POST", "/api/v1/events", map[string]any{"title": "Ines's pods", "chapters": []string{"pods"}, "seats": 4})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create an event: %d %s", res.StatusCode, body)
	}
	var ev struct {
		ID       string `json:"id"`
		JoinCode string `json:"join_code"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	eventPath := "/events/" + ev.ID

	tests := []struct {
		name         string
		client       *testClient
		path         string
		wantStatus   int
		wantLocation string
		wantHTML     []string
	}{
		{name: "events needs a login", client: anon, path: "/events", wantStatus: 303, wantLocation: "/login?next=%2Fevents"},
		{name: "event needs a login", client: anon, path: eventPath, wantStatus: 303, wantLocation: "/login?next=" + url.QueryEscape(eventPath)},
		{name: "join anonymous asks a name", client: anon, path: "/join/" + strings.ToLower(ev.JoinCode), wantStatus: 200,
			wantHTML: []string{`id="join-name"`, `value="` + ev.JoinCode + `"`, `href="/login?next=%2fjoin%2f` + ev.JoinCode + `"`}},
		{name: "join signed in", client: learner, path: "/join", wantStatus: 200, wantHTML: []string{`id="join-code-input"`, "You join as"}},
		{name: "join with a strange code", client: anon, path: "/join/%3Cscript%3E", wantStatus: 200, wantHTML: []string{`value=""`}},
		{name: "learner has no events", client: learner, path: "/events", wantStatus: 404, wantHTML: []string{"Page not found"}},
		{name: "learner has no event page", client: learner, path: eventPath, wantStatus: 404, wantHTML: []string{"Page not found"}},
		{name: "learner has no users page", client: learner, path: "/admin/users", wantStatus: 404},
		{name: "instructor's events", client: ines, path: "/events", wantStatus: 200,
			wantHTML: []string{`id="event-form"`, `<option value="pods">`, `href="/events" aria-current="page"`}},
		{name: "instructor's event", client: ines, path: eventPath, wantStatus: 200,
			wantHTML: []string{`data-event="` + ev.ID + `"`, "Ines&#39;s pods", `id="grid"`, `href="/api/v1/events/` + ev.ID + `/export.csv"`, `id="edit-form"`}},
		{name: "another instructor's event", client: otto, path: eventPath, wantStatus: 404, wantHTML: []string{"Page not found"}},
		{name: "unknown event", client: otto, path: "/events/00000000-0000-0000-0000-000000000000", wantStatus: 404},
		{name: "instructor has no users page", client: ines, path: "/admin/users", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, body := tt.client.do(t, "GET", tt.path, nil)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d\n%s", tt.path, res.StatusCode, tt.wantStatus, body)
			}
			if got := res.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			for _, want := range tt.wantHTML {
				if !bytes.Contains(body, []byte(want)) {
					t.Errorf("body lacks %q", want)
				}
			}
			if res.StatusCode == http.StatusOK {
				checkCSPSafe(t, tt.path, body)
			}
		})
	}
}
