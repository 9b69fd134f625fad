package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/server/store"
)

// TestUIWorkshopLearner walks the learner's side of a workshop in
// Chromium: an instructor (through the API) makes an event, the learner
// joins it and finds it first on the home page, in the event's order; on
// the chapter page the instructor's banner and hint appear, a raised hand
// reaches the grid, the terminal's status line says when the instructor
// watches, and a take-over the learner allows lets the instructor type
// into the learner's shell.
func TestUIWorkshopLearner(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	teach := signupPageUser(t, ts.client(t), "tess@example.com", "Tess Teacher")
	teacherID := decode[struct {
		ID string `json:"id"`
	}](t, workshopCall(t, teach, "GET", "/api/v1/me", nil, http.StatusOK)).ID
	if _, err := ts.store.SetRole(t.Context(), teacherID, store.RoleInstructor); err != nil {
		t.Fatal(err)
	}
	// Pods before orientation: not the catalog's order.
	ev := decode[struct {
		ID       string `json:"id"`
		JoinCode string `json:"join_code"`
	}](t, workshopCall(t, teach, "POST", "/api/v1/events", map[string]any{
		"title": "Kubernetes day", "chapters": []string{"pods", "orientation"}, "seats": 5}, http.StatusCreated))
	eventPath := "/api/v1/events/" + ev.ID

	u, base, userID := signedUp(t, ts, "lea@example.com", "Lea")
	problems := watchProblems(t, u)
	joined := eval[float64](t, u, fmt.Sprintf(`fetch('/api/v1/join', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({code: %q})}).then((r) => r.status)`, ev.JoinCode))
	if joined != http.StatusOK {
		t.Fatalf("join with the event's code: %v, want 200", joined)
	}

	// Home: the workshop first, its chapters in its order, and Start offers its first.
	do(t, u, "open the home page", chromedp.Navigate(base+"/"))
	waitFor(t, u, "the workshop on the home page",
		`document.querySelector('#workshop h2')?.textContent.includes('Your workshop: Kubernetes day')`, 10*time.Second)
	if got := eval[string](t, u, `[...document.querySelectorAll('#workshop .chapter-card')].map((a) => a.dataset.chapter).join(',')`); got != "pods,orientation" {
		t.Errorf("the workshop's chapters on the home page: %q, want %q", got, "pods,orientation")
	}
	if !eval[bool](t, u, `!!(document.querySelector('#workshop').compareDocumentPosition(document.querySelector('#catalog-title')) & Node.DOCUMENT_POSITION_FOLLOWING)`) {
		t.Error("the workshop is not before the catalog")
	}
	if got := eval[string](t, u, `document.querySelector('.hero-actions .btn.primary')?.getAttribute('href') || ''`); got != "/chapters/pods" {
		t.Errorf("the home page's Start goes to %q, want the workshop's first chapter /chapters/pods", got)
	}
	screenshot(t, u, "workshop-home")

	// A chapter outside the workshop has no workshop bar (and works).
	do(t, u, "open chapter labels", chromedp.Navigate(base+"/chapters/labels"))
	waitFor(t, u, "the start button in labels", startReadyJS, 10*time.Second)
	if eval[bool](t, u, `!!document.querySelector('#workshop-bar')`) {
		t.Error("chapter labels, not in the workshop, shows the workshop bar")
	}

	do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
	waitFor(t, u, "the workshop bar", `document.querySelector('#workshop-title')?.textContent === 'Kubernetes day'`, 10*time.Second)
	if got := eval[string](t, u, `document.querySelector('.workspace').dataset.nextChapter || ''`); got != "orientation" {
		t.Errorf("the chapter after pods: %q, want the workshop's next, orientation", got)
	}
	waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
	startToPrompt(t, u)

	// A banner to the whole event: shown at the top of the lesson, dismissable.
	workshopCall(t, teach, "POST", eventPath+"/broadcast", map[string]string{"message": "Lunch at 12:30"}, http.StatusOK)
	bannerJS := `(() => { const b = document.querySelector('#workshop-banner');
		return !b.hidden && b.dataset.kind === 'banner' && b.textContent.includes('Lunch at 12:30') && b.textContent.includes('Tess Teacher'); })()`
	waitFor(t, u, "the banner", bannerJS, 10*time.Second)
	click(t, u, "dismiss the banner", "#workshop-banner [data-dismiss-banner]")
	waitFor(t, u, "the banner dismissed", `document.querySelector('#workshop-banner').hidden`, 5*time.Second)

	// A hint to the learners failing the first task: Lea is one of them.
	sent := decode[struct {
		Sent int `json:"sent"`
	}](t, workshopCall(t, teach, "POST", eventPath+"/broadcast",
		map[string]string{"message": "kubectl run takes --restart", "chapter": "pods", "task": "run-hello-web"}, http.StatusOK))
	if sent.Sent != 1 {
		t.Errorf("hint for run-hello-web sent to %d learners, want 1 (Lea, failing it)", sent.Sent)
	}
	waitFor(t, u, "the hint, styled as one", `(() => { const b = document.querySelector('#workshop-banner');
		return !b.hidden && b.dataset.kind === 'hint' && b.classList.contains('warn') && b.textContent.includes('kubectl run takes --restart'); })()`, 10*time.Second)

	// Raise hand, with a message: the grid shows it.
	click(t, u, "Raise hand", "#hand-btn")
	waitFor(t, u, "the hand dialog", `document.querySelector('#hand-dialog').open`, 5*time.Second)
	do(t, u, "write a message", chromedp.SendKeys(chromedp.ID("hand-message"), "my pod stays Pending"))
	click(t, u, "Raise hand in the dialog", `#hand-dialog button[value="confirm"]`)
	waitFor(t, u, "the hand up", `document.querySelector('#hand-btn').textContent === 'Lower hand'`, 10*time.Second)
	hand := learnerHand(t, teach, eventPath, userID)
	if hand == nil || hand.Message != "my pod stays Pending" || hand.Chapter != "pods" {
		t.Errorf("the grid's hand of Lea: %+v, want the message in chapter pods", hand)
	}

	// A read-only mirror: the status line says who is viewing.
	mirror := dialInstructorTerm(t, ts, teach, eventPath+"/learners/"+userID+"/terminal")
	waitFor(t, u, "the viewing notice", `(() => { const n = document.querySelector('#term-watched');
		return !n.hidden && n.textContent === 'Tess Teacher is viewing your terminal'; })()`, 10*time.Second)
	mirror.close()
	waitFor(t, u, "the viewing notice gone", `document.querySelector('#term-watched').hidden`, 10*time.Second)

	// A take-over: asked first; allowed, the instructor types into the shell.
	workshopCall(t, teach, "POST", eventPath+"/learners/"+userID+"/takeover", nil, http.StatusAccepted)
	waitFor(t, u, "the take-over question", `document.querySelector('#takeover-dialog').open &&
		document.querySelector('#takeover-dialog .who').textContent === 'Tess Teacher'`, 10*time.Second)
	click(t, u, "Allow", `#takeover-dialog button[value="allow"]`)
	writer := dialInstructorTerm(t, ts, teach, eventPath+"/learners/"+userID+"/terminal?write=1")
	waitFor(t, u, "the typing notice", `document.querySelector('#term-watched').textContent.includes('Tess Teacher is typing in your terminal')`, 10*time.Second)
	screenshot(t, u, "workshop-chapter")
	writer.send(t, "echo taken-$((6*7))\n")
	waitFor(t, u, "the instructor's command in the learner's terminal", terminalTextJS+`.includes('taken-42')`, 20*time.Second)
	writer.wait(t, "taken-42")
	writer.close()
	waitFor(t, u, "the typing notice gone", `document.querySelector('#term-watched').hidden`, 10*time.Second)

	// Lower hand: gone from the grid.
	click(t, u, "Lower hand", "#hand-btn")
	waitFor(t, u, "the hand down", `document.querySelector('#hand-btn').textContent === 'Raise hand'`, 10*time.Second)
	if hand := learnerHand(t, teach, eventPath, userID); hand != nil {
		t.Errorf("the grid's hand of Lea after Lower hand: %+v, want none", hand)
	}
	// Raised again without a message, and lowered by the instructor: the
	// learner's button follows.
	click(t, u, "Raise hand", "#hand-btn")
	waitFor(t, u, "the hand dialog", `document.querySelector('#hand-dialog').open && document.querySelector('#hand-message').value === ''`, 5*time.Second)
	click(t, u, "Raise hand in the dialog", `#hand-dialog button[value="confirm"]`)
	waitFor(t, u, "the hand up", `document.querySelector('#hand-btn').textContent === 'Lower hand'`, 10*time.Second)
	if hand := learnerHand(t, teach, eventPath, userID); hand == nil || hand.Message != "" {
		t.Errorf("the grid's hand of Lea raised without a message: %+v, want one with no message", hand)
	}
	workshopCall(t, teach, "DELETE", eventPath+"/learners/"+userID+"/hand", nil, http.StatusNoContent)
	waitFor(t, u, "the hand lowered by the instructor", `document.querySelector('#hand-btn').textContent === 'Raise hand'`, 10*time.Second)
	problems.check(t, u, "the workshop's chapter page")

	// The event's banner is sent again to a page that connects later; one
	// the learner dismissed stays dismissed, a new one shows.
	workshopCall(t, teach, "POST", eventPath+"/broadcast", map[string]string{"message": "Back at 13:30"}, http.StatusOK)
	waitFor(t, u, "the new banner", `document.querySelector('#workshop-banner').textContent.includes('Back at 13:30')`, 10*time.Second)
	do(t, u, "reload the chapter", chromedp.Reload())
	waitFor(t, u, "the banner after a reload", `(() => { const b = document.querySelector('#workshop-banner');
		return !b.hidden && b.dataset.kind === 'banner' && b.textContent.includes('Back at 13:30'); })()`, 30*time.Second)
}

// workshopCall sends a request and fails the test unless it answers want.
func workshopCall(t *testing.T, c *testClient, method, path string, v any, want int) []byte {
	t.Helper()
	res, body := c.do(t, method, path, v)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, body, want)
	}
	return body
}

// learnerHand is the hand of learner userID in the event's grid (nil: down).
func learnerHand(t *testing.T, c *testClient, eventPath, userID string) *handJSON {
	t.Helper()
	grid := decode[gridJSON](t, workshopCall(t, c, "GET", eventPath+"/grid", nil, http.StatusOK))
	for _, l := range grid.Learners {
		if l.ID == userID {
			return l.Hand
		}
	}
	t.Fatalf("learner %s is not in the grid", userID)
	return nil
}

// instructorTerm is an instructor's websocket to a learner's terminal, with
// what it received.
type instructorTerm struct {
	conn *websocket.Conn
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// dialInstructorTerm opens an instructor's terminal websocket at path, as c. A
// take-over the learner has just allowed may take a moment to arrive:
// refusals are retried for a while.
func dialInstructorTerm(t *testing.T, ts *testStack, c *testClient, path string) *instructorTerm {
	t.Helper()
	header := http.Header{"Origin": {ts.url}}
	for _, ck := range c.http.Jar.Cookies(mustParse(t, ts.url)) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	url := "ws" + strings.TrimPrefix(ts.url, "http") + path
	var conn *websocket.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		var res *http.Response
		var err error
		conn, res, err = websocket.DefaultDialer.DialContext(t.Context(), url, header)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			t.Fatalf("open %s: %v (status %d)", path, err, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := conn.WriteJSON(map[string]any{"type": "hello", "offset": 0}); err != nil {
		t.Fatalf("hello on %s: %v", path, err)
	}
	m := &instructorTerm{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			kind, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if kind == websocket.BinaryMessage {
				m.mu.Lock()
				m.out.Write(data)
				m.mu.Unlock()
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

// send types text into the terminal.
func (m *instructorTerm) send(t *testing.T, text string) {
	t.Helper()
	if err := m.conn.WriteMessage(websocket.BinaryMessage, []byte(text)); err != nil {
		t.Fatalf("type into the learner's terminal: %v", err)
	}
}

// wait waits until the mirror has shown want.
func (m *instructorTerm) wait(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m.mu.Lock()
		ok := strings.Contains(m.out.String(), want)
		m.mu.Unlock()
		if ok {
			return
		}
	}
	t.Errorf("the instructor's terminal never showed %q", want)
}

// close closes the websocket (again: a no-op) and waits for its reader.
func (m *instructorTerm) close() {
	_ = m.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = m.conn.Close()
	<-m.done
}
