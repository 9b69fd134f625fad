package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// row is a grid row of learner id whose cells are "chapter/task=state".
func row(id string, cells ...string) gridLearnerJSON {
	r := gridLearnerJSON{ID: id, Name: "Learner " + id, Tasks: []gridCellJSON{}}
	for _, c := range cells {
		task, state, _ := strings.Cut(c, "=")
		chapter, task, _ := strings.Cut(task, "/")
		r.Tasks = append(r.Tasks, gridCellJSON{Chapter: chapter, Task: task, State: state})
	}
	return r
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGridViewFollowsTheStream(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	g := newGridView()
	steps := []struct {
		name string
		data any
		at   time.Time
	}{
		{"grid", gridJSON{Learners: []gridLearnerJSON{
			row("a", "pods/run=passed", "pods/label=failing"),
			row("b", "pods/run=not_started", "pods/label=not_started"),
		}}, at(0)},
		{"tasks", []map[string]any{{"chapter": "pods", "task": "run", "pass_rate": 0.5}}, at(1)}, // not a row: ignored
		{"learner", row("a", "pods/run=passed", "pods/label=passed"), at(2)},
		{"learner", row("b", "pods/run=passed", "pods/label=failing"), at(3)},
		{"learner", row("b", "pods/run=failing", "pods/label=failing"), at(4)}, // shows passed no more
		{"learner", row("b", "pods/run=passed", "pods/label=failing"), at(5)},  // and again: from now
		// A reconnect's grid replaces every row; a learner gone from it is dropped.
		{"grid", gridJSON{Learners: []gridLearnerJSON{row("a", "pods/run=passed", "pods/label=passed")}}, at(6)},
	}
	for _, s := range steps {
		if err := g.apply(s.name, mustMarshal(t, s.data), s.at); err != nil {
			t.Fatalf("apply %s: %v", s.name, err)
		}
	}
	want := map[string]time.Time{"a pods/run": at(0), "a pods/label": at(2)}
	got := map[string]time.Time{}
	for _, id := range []string{"a", "b"} {
		for _, k := range []taskKey{{"pods", "run"}, {"pods", "label"}} {
			if since, ok := g.shownPassed(id, k); ok {
				got[id+" "+k.String()] = since
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cells shown passed since (-want +got):\n%s", diff)
	}
	if snap := g.snapshot(); len(snap) != 1 || snap["a"].Tasks[1].State != cellPassed {
		t.Errorf("snapshot after the second grid: %+v, want learner a only, both passed", snap)
	}
	if !g.lastEvent().Equal(at(6)) {
		t.Errorf("lastEvent = %s, want the last grid's %s", g.lastEvent(), at(6))
	}
	if err := g.apply("learner", []byte(`{"id": 7`), at(7)); err == nil {
		t.Error("a broken learner event: no error")
	}
}

func TestCellLatencies(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	shown := map[string]time.Time{
		"a pods/run":   t0.Add(300 * time.Millisecond),
		"a pods/label": t0.Add(-time.Minute), // passed in an earlier lab of the chapter
	}
	lookup := func(learner string, k taskKey) (time.Time, bool) {
		at, ok := shown[learner+" "+k.String()]
		return at, ok
	}
	green := t0.Add(200 * time.Millisecond)
	changes := []gridChange{
		{Learner: "a", Task: taskKey{"pods", "run"}, At: t0, Green: green},
		{Learner: "a", Task: taskKey{"pods", "label"}, At: t0, Green: green},
		{Learner: "b", Task: taskKey{"pods", "run"}, At: t0, Green: green}, // never shown passed
	}
	measured, before, missing := cellLatencies(changes, lookup)
	if len(measured) != 1 || measured[0].Task != changes[0].Task {
		t.Fatalf("measured %+v, want the first change only", measured)
	}
	if got := measured[0].FromChange(); got != 300*time.Millisecond {
		t.Errorf("change → grid cell = %s, want 300ms", got)
	}
	if got := measured[0].FromGreen(); got != 100*time.Millisecond {
		t.Errorf("green → grid cell = %s, want 100ms", got)
	}
	if before != 1 {
		t.Errorf("before = %d, want 1 (the chapter taken again)", before)
	}
	if diff := cmp.Diff(changes[2:], missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
}

func TestGridMismatches(t *testing.T) {
	t.Parallel()
	set := func(keys ...string) map[taskKey]bool {
		m := map[taskKey]bool{}
		for _, k := range keys {
			chapter, task, _ := strings.Cut(k, "/")
			m[taskKey{chapter, task}] = true
		}
		return m
	}
	// Learner a passed pods/run in an earlier lab and pods/label in the
	// ready one; b, a guest, reads with its lab being reset.
	learners := []learnerState{
		{User: "a", Name: "learner 1", Seen: set("pods/run", "pods/label"), Live: set("pods/label")},
		{User: "b", Name: "learner 2", Seen: set()},
	}
	good := gridJSON{Learners: []gridLearnerJSON{
		row("a", "pods/run=passed", "pods/label=passed", "labels/add=not_started"),
		row("b", "pods/run=failing", "pods/label=not_started", "labels/add=not_started"),
	}}
	streamed := func(g gridJSON) map[string]gridLearnerJSON {
		m := map[string]gridLearnerJSON{}
		for _, r := range g.Learners {
			m[r.ID] = r
		}
		return m
	}
	with := func(rows ...gridLearnerJSON) gridJSON { return gridJSON{Learners: rows} }
	tests := []struct {
		name     string
		learners []learnerState
		got      gridJSON
		streamed map[string]gridLearnerJSON
		want     []string
	}{
		{name: "the grid matches", learners: learners, got: good, streamed: streamed(good)},
		{name: "a pass the learner never saw", learners: learners,
			got:      with(good.Learners[0], row("b", "pods/run=passed", "pods/label=not_started", "labels/add=not_started")),
			streamed: streamed(with(good.Learners[0], row("b", "pods/run=passed", "pods/label=not_started", "labels/add=not_started"))),
			want:     []string{"learner 2: pods/run shows passed on the grid, but the learner never saw it pass"}},
		{name: "the lab passes it now, the grid does not",
			learners: []learnerState{{User: "a", Name: "learner 1", Seen: set("pods/run"), Live: set("pods/label")}, learners[1]},
			got:      with(row("a", "pods/run=passed", "pods/label=failing", "labels/add=not_started"), good.Learners[1]),
			streamed: streamed(with(row("a", "pods/run=passed", "pods/label=failing", "labels/add=not_started"), good.Learners[1])),
			want:     []string{"learner 1: pods/label is failing on the grid, but the learner's lab passes it (GET tasks)"}},
		{name: "progress lost: the stream said passed",
			learners: learners,
			got:      with(row("a", "pods/run=failing", "pods/label=passed", "labels/add=not_started"), good.Learners[1]),
			streamed: streamed(with(row("a", "pods/run=failing", "pods/label=passed", "labels/add=not_started"), good.Learners[1])),
			want:     []string{"learner 1: pods/run is failing on the grid, but the learner's event stream said it passed"}},
		{name: "a passed task without a cell",
			learners: []learnerState{{User: "a", Name: "learner 1", Seen: set("pods/run", "pods/label", "exams/x")}, learners[1]},
			got:      good, streamed: streamed(good),
			want: []string{"learner 1: exams/x passed in the learner's lab but has no cell on the grid"}},
		{name: "a learner missing, a stranger present",
			learners: learners,
			got:      with(good.Learners[0], row("z")),
			streamed: streamed(with(good.Learners[0], row("z"))),
			want: []string{"learner 2 joined the event but is not on its grid",
				"the grid has a learner who never joined: Learner z (z)"}},
		{name: "the stream missed a row's change",
			learners: learners, got: good,
			streamed: streamed(with(row("a", "pods/run=passed", "pods/label=failing", "labels/add=not_started"), good.Learners[1])),
			want:     []string{`Learner a: pods/label is passed on the grid but "failing" on the streamed grid`}},
		{name: "the stream missed a learner, and kept one gone",
			learners: learners, got: good,
			streamed: streamed(with(good.Learners[0], row("z"))),
			want: []string{"Learner b is on the grid but not on the streamed grid",
				"Learner z is on the streamed grid but not on the grid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := gridMismatches(tt.learners, tt.got, tt.streamed)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("gridMismatches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadSSE(t *testing.T) {
	t.Parallel()
	in := ": ping\n\nevent: grid\ndata: {\"learners\":[]}\n\nevent: learner\ndata: {\"id\":\"a\"}\n\ndata: no name\n\n"
	var got []string
	if err := readSSE(strings.NewReader(in), func(name, data string) { got = append(got, name+" "+data) }); err != nil {
		t.Fatal(err)
	}
	want := []string{`grid {"learners":[]}`, `learner {"id":"a"}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
