package server

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/net/html"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/server/store"
)

// progressView is what one surface (a page or an API) shows of a chapter.
type progressView struct {
	Passed  int
	Score   float64
	Started bool
	Done    bool
	Tasks   map[string]taskView // by task id
}

type taskView struct {
	State taskState
	Score float64
}

// TestProgressRule stores one learner's results and checks that every page
// and API shows the same progress, by the rule of progressOf.
func TestProgressRule(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := signupPageUser(t, ts.client(t), "progress@example.com", "Progress")
	_, body := c.do(t, "GET", "/api/v1/me", nil)
	var me userJSON
	mustUnmarshal(t, body, &me)

	chapters := ts.srv.catalog.Chapters()
	if len(chapters) < 4 || len(chapters[0].Tasks) < 3 {
		t.Fatalf("the test needs 4 chapters and 3 tasks in the first; the catalog has %d chapters", len(chapters))
	}
	// mixed: a task that passed and failed again, a partial score that
	// went down, a 0-point row. zero: only 0-point rows. done: every task
	// passed. Nothing is stored for the other chapters.
	mixed, zero, done := chapters[0], chapters[1], chapters[2]
	record := func(ch *labs.Chapter, rows ...store.TaskResultRow) {
		t.Helper()
		if err := ts.store.RecordTaskResults(t.Context(), me.ID, ch.ID, rows); err != nil {
			t.Fatalf("RecordTaskResults(%s): %v", ch.ID, err)
		}
	}
	again, partial, untouched := mixed.Tasks[0], mixed.Tasks[1], mixed.Tasks[2]
	record(mixed, store.TaskResultRow{Task: again.ID, Passed: true, Score: float64(again.Points)},
		store.TaskResultRow{Task: partial.ID, Score: 1.33}, store.TaskResultRow{Task: untouched.ID})
	record(mixed, store.TaskResultRow{Task: again.ID, Score: 0}, store.TaskResultRow{Task: partial.ID, Score: 0.67})
	for _, tk := range zero.Tasks {
		record(zero, store.TaskResultRow{Task: tk.ID})
	}
	for _, tk := range done.Tasks {
		record(done, store.TaskResultRow{Task: tk.ID, Passed: true, Score: float64(tk.Points)})
	}

	// The expected numbers, worked out by hand from the rule.
	want := map[string]progressView{}
	for _, ch := range chapters {
		v := progressView{Tasks: map[string]taskView{}}
		for _, tk := range ch.Tasks {
			v.Tasks[tk.ID] = taskView{State: taskNotStarted}
		}
		want[ch.ID] = v
	}
	mixedView := want[mixed.ID]
	mixedView.Passed, mixedView.Score, mixedView.Started = 1, float64(again.Points)+1.33, true
	mixedView.Tasks[again.ID] = taskView{State: taskPassed, Score: float64(again.Points)}
	mixedView.Tasks[partial.ID] = taskView{State: taskFailing, Score: 1.33}
	want[mixed.ID] = mixedView
	doneView := want[done.ID]
	doneView.Passed, doneView.Started, doneView.Done = len(done.Tasks), true, true
	for _, tk := range done.Tasks {
		doneView.Score += float64(tk.Points)
		doneView.Tasks[tk.ID] = taskView{State: taskPassed, Score: float64(tk.Points)}
	}
	want[done.ID] = doneView

	get := func(t *testing.T, path string) []byte {
		t.Helper()
		res, body := c.do(t, "GET", path, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		return body
	}
	tests := []struct {
		name    string
		read    func(t *testing.T) map[string]progressView
		ignore  []string // fields the surface does not show
		rounded bool     // the surface prints scores to one decimal
	}{
		{name: "GET /api/v1/chapters", ignore: []string{"Tasks"}, read: func(t *testing.T) map[string]progressView {
			var list []chapterSummaryJSON
			mustUnmarshal(t, get(t, "/api/v1/chapters"), &list)
			out := map[string]progressView{}
			for _, ch := range list {
				out[ch.ID] = progressView{Passed: ch.Passed, Score: ch.Score, Started: ch.Started, Done: ch.Done}
			}
			return out
		}},
		{name: "GET /api/v1/chapters/{chapter}", read: func(t *testing.T) map[string]progressView {
			out := map[string]progressView{}
			for _, ch := range chapters {
				var cj chapterJSON
				mustUnmarshal(t, get(t, "/api/v1/chapters/"+ch.ID), &cj)
				v := progressView{Passed: cj.Progress.Passed, Score: cj.Progress.Score, Started: cj.Progress.Started,
					Done: cj.Progress.Done, Tasks: map[string]taskView{}}
				for _, tj := range cj.Tasks {
					if tj.Passed != (tj.State == taskPassed) {
						t.Errorf("%s/%s: passed %v with state %s", ch.ID, tj.ID, tj.Passed, tj.State)
					}
					v.Tasks[tj.ID] = taskView{State: tj.State, Score: tj.Score}
				}
				out[ch.ID] = v
			}
			return out
		}},
		{name: "GET /api/v1/progress", ignore: []string{"Tasks"}, read: func(t *testing.T) map[string]progressView {
			var list []chapterProgressJSON
			mustUnmarshal(t, get(t, "/api/v1/progress"), &list)
			out := map[string]progressView{}
			for _, ch := range list {
				out[ch.Chapter] = progressView{Passed: ch.Passed, Score: ch.Score, Started: ch.Started, Done: ch.Done}
			}
			return out
		}},
		{name: "chapter page", ignore: []string{"Started", "Done"}, rounded: true, read: func(t *testing.T) map[string]progressView {
			out := map[string]progressView{}
			for _, ch := range chapters {
				doc := parseHTML(t, get(t, "/chapters/"+ch.ID))
				v := progressView{Passed: atoi(t, text(findOne(t, doc, hasAttr("data-passed")))),
					Score: parseScore(t, text(findOne(t, doc, hasAttr("data-score", "span")))), Tasks: map[string]taskView{}}
				for _, li := range findAll(doc, hasAttr("data-task", "li")) {
					score, err := strconv.ParseFloat(attr(li, "data-score"), 64)
					if err != nil {
						t.Errorf("%s: task %s: data-score: %v", ch.ID, attr(li, "data-task"), err)
					}
					v.Tasks[attr(li, "data-task")] = taskView{State: taskState(attr(li, "data-state")), Score: score}
				}
				out[ch.ID] = v
			}
			return out
		}},
		{name: "progress page", ignore: []string{"Tasks"}, rounded: true, read: func(t *testing.T) map[string]progressView {
			out := map[string]progressView{}
			for _, tr := range findAll(parseHTML(t, get(t, "/progress")), hasAttr("data-chapter", "tr")) {
				cells := findAll(tr, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "td" })
				if len(cells) != 4 {
					t.Fatalf("progress row %s has %d cells, want 4", attr(tr, "data-chapter"), len(cells))
				}
				score, _, _ := strings.Cut(text(cells[1]), "/")
				status := strings.TrimSpace(text(cells[3]))
				out[attr(tr, "data-chapter")] = progressView{Passed: atoi(t, attr(findOne(t, tr, isElement("progress")), "value")),
					Score: parseScore(t, score), Started: status != "not started", Done: status == "done"}
			}
			return out
		}},
		{name: "home page", ignore: []string{"Score", "Tasks"}, read: func(t *testing.T) map[string]progressView {
			out := map[string]progressView{}
			for _, a := range findAll(parseHTML(t, get(t, "/")), hasAttr("data-chapter", "a")) {
				class := " " + attr(a, "class") + " "
				out[attr(a, "data-chapter")] = progressView{Passed: atoi(t, attr(findOne(t, a, isElement("progress")), "value")),
					Started: strings.Contains(class, " started ") || strings.Contains(class, " done "), Done: strings.Contains(class, " done ")}
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantHere := map[string]progressView{}
			for id, v := range want {
				if tt.rounded {
					v.Score = parseScore(t, formatScore(v.Score))
				}
				wantHere[id] = v
			}
			got := tt.read(t)
			if diff := cmp.Diff(wantHere, got, cmpopts.IgnoreFields(progressView{}, tt.ignore...), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}
}

func parseHTML(t *testing.T, body []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func isElement(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == tag }
}

// hasAttr matches elements with the attribute key, of the tag if one is given.
func hasAttr(key string, tag ...string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode || (len(tag) > 0 && n.Data != tag[0]) {
			return false
		}
		for _, a := range n.Attr {
			if a.Key == key {
				return true
			}
		}
		return false
	}
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, findAll(c, match)...)
	}
	return out
}

func findOne(t *testing.T, n *html.Node, match func(*html.Node) bool) *html.Node {
	t.Helper()
	all := findAll(n, match)
	if len(all) == 0 {
		t.Fatal("no such element in the page")
	}
	return all[0]
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	for _, t := range findAll(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Errorf("not a number: %q", s)
	}
	return n
}

func parseScore(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Errorf("not a score: %q", s)
	}
	return f
}

// TestTimeInTheLabs: the time in a chapter's labs runs from the sandbox
// being ready to the learner's last activity in it, before any check.
func TestTimeInTheLabs(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := guest(t, ts)
	ss := startReady(t, c, "pods")
	if ss.ReadyAt == nil {
		t.Fatal("a ready session without ready_at")
	}
	if err := ts.store.TouchSandboxSession(t.Context(), ss.ID, ss.ReadyAt.Add(95*time.Second)); err != nil {
		t.Fatal(err)
	}
	res, body := c.do(t, "GET", "/api/v1/progress", nil)
	if res.StatusCode != 200 {
		t.Fatalf("progress: %d %s", res.StatusCode, body)
	}
	for _, p := range decode[[]chapterProgressJSON](t, body) {
		if p.Chapter == "pods" && p.Seconds < 95 {
			t.Errorf("time in the pods lab = %d s, want at least 95 (no task checked yet)", p.Seconds)
		}
	}
}
