package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// The event's grid as the instructor's page holds it, and what the soak
// checks against it. The JSON is server/workshop_grid.go's gridJSON and
// learnerJSON, kept to what the soak reads.

// cellPassed is the state of a grid cell whose task the learner passed.
const cellPassed = "passed"

type gridJSON struct {
	Learners []gridLearnerJSON `json:"learners"`
}

type gridLearnerJSON struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Session *gridSessionRef `json:"session"`
	Tasks   []gridCellJSON  `json:"tasks"`
}

type gridSessionRef struct {
	ID      string `json:"id"`
	Chapter string `json:"chapter"`
	Status  string `json:"status"`
}

type gridCellJSON struct {
	Chapter string `json:"chapter"`
	Task    string `json:"task"`
	State   string `json:"state"`
}

// taskKey is a task of one of the event's chapters.
type taskKey struct{ Chapter, Task string }

func (k taskKey) String() string { return k.Chapter + "/" + k.Task }

// gridView is the grid a follower of the grid's event stream holds: "grid"
// replaces it, "learner" replaces one row. It also keeps, for each cell
// that shows passed, when the follower first saw it so. It is safe for
// concurrent use.
type gridView struct {
	mu       sync.Mutex
	rows     map[string]gridLearnerJSON       // by learner id
	passedAt map[string]map[taskKey]time.Time // learner → cell → since when it shows passed
	last     time.Time                        // when the last grid or learner event came
}

func newGridView() *gridView {
	return &gridView{rows: map[string]gridLearnerJSON{}, passedAt: map[string]map[taskKey]time.Time{}}
}

// apply takes one event of the grid's stream, received at now. Events
// other than "grid" and "learner" (pass rates, the event itself, hands)
// are not the grid's cells and are ignored.
func (g *gridView) apply(name string, data []byte, now time.Time) error {
	switch name {
	case "grid":
		var grid gridJSON
		if err := json.Unmarshal(data, &grid); err != nil {
			return fmt.Errorf("grid event: %w", err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.last = now
		ids := map[string]bool{}
		for _, l := range grid.Learners {
			ids[l.ID] = true
			g.setRow(l, now)
		}
		for id := range g.rows {
			if !ids[id] {
				delete(g.rows, id)
				delete(g.passedAt, id)
			}
		}
	case "learner":
		var l gridLearnerJSON
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("learner event: %w", err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.last = now
		g.setRow(l, now)
	}
	return nil
}

// setRow replaces a learner's row; g.mu is held.
func (g *gridView) setRow(l gridLearnerJSON, now time.Time) {
	g.rows[l.ID] = l
	was := g.passedAt[l.ID]
	passed := map[taskKey]time.Time{}
	for _, c := range l.Tasks {
		if c.State != cellPassed {
			continue
		}
		k := taskKey{c.Chapter, c.Task}
		at, ok := was[k]
		if !ok {
			at = now
		}
		passed[k] = at
	}
	g.passedAt[l.ID] = passed
}

// shownPassed says since when the learner's cell shows passed.
func (g *gridView) shownPassed(learner string, k taskKey) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.passedAt[learner][k]
	return at, ok
}

// snapshot is a copy of the rows, by learner id.
func (g *gridView) snapshot() map[string]gridLearnerJSON {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.rows)
}

// lastEvent is when the last grid or learner event came.
func (g *gridView) lastEvent() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

// gridChange is a task a typing learner completed: the Enter of the
// command that made its lab pass the task, and when the learner's own
// event stream said it passed.
type gridChange struct {
	Learner string // user id
	Task    taskKey
	At      time.Time
	Green   time.Time
}

// cellShown is a change and when its cell first showed passed on the
// streamed grid.
type cellShown struct {
	gridChange
	Shown time.Time
}

// FromChange is change → grid cell; FromGreen its part after the
// learner's own stream said passed: the grid's own.
func (c cellShown) FromChange() time.Duration { return c.Shown.Sub(c.At) }
func (c cellShown) FromGreen() time.Duration  { return c.Shown.Sub(c.Green) }

// cellLatencies finds when each change's cell first showed passed on the
// streamed grid. A cell that showed passed before the change (the learner
// took the chapter again: progress keeps what passed once) is counted in
// before; one that never showed passed is returned in missing.
func cellLatencies(changes []gridChange, shown func(learner string, k taskKey) (time.Time, bool)) (measured []cellShown, before int, missing []gridChange) {
	for _, c := range changes {
		at, ok := shown(c.Learner, c.Task)
		switch {
		case !ok:
			missing = append(missing, c)
		case at.Before(c.At):
			before++
		default:
			measured = append(measured, cellShown{c, at})
		}
	}
	return measured, before, missing
}

// learnerState is what the soak knows of one learner of the event when it
// checks the grid.
type learnerState struct {
	User string // user id: the grid row's id
	Name string // for the report ("learner 7")
	// Seen holds every task the learner's event streams said passed, in
	// any of its labs: its progress, which the grid shows.
	Seen map[taskKey]bool
	// Live is what the learner's ready lab's GET tasks says passes now;
	// nil when the learner has no ready lab.
	Live map[taskKey]bool
}

// gridMismatches compares the grid kubelab answers with what each learner
// knows and with the grid the follower streamed; each mismatch is a
// sentence for the report. A cell shows passed exactly when the learner
// saw the task pass (progress keeps a pass) or its lab passes it now.
func gridMismatches(learners []learnerState, got gridJSON, streamed map[string]gridLearnerJSON) []string {
	var out []string
	rows := map[string]gridLearnerJSON{}
	for _, r := range got.Learners {
		rows[r.ID] = r
	}
	known := map[string]bool{}
	for _, l := range learners {
		known[l.User] = true
		row, ok := rows[l.User]
		if !ok {
			out = append(out, fmt.Sprintf("%s joined the event but is not on its grid", l.Name))
			continue
		}
		cells := map[taskKey]string{}
		for _, c := range row.Tasks {
			k := taskKey{c.Chapter, c.Task}
			cells[k] = c.State
			passed, live := c.State == cellPassed, l.Live[k]
			switch {
			case passed && !l.Seen[k] && !live:
				out = append(out, fmt.Sprintf("%s: %s shows passed on the grid, but the learner never saw it pass", l.Name, k))
			case !passed && live:
				out = append(out, fmt.Sprintf("%s: %s is %s on the grid, but the learner's lab passes it (GET tasks)", l.Name, k, c.State))
			case !passed && l.Seen[k]:
				out = append(out, fmt.Sprintf("%s: %s is %s on the grid, but the learner's event stream said it passed", l.Name, k, c.State))
			}
		}
		for _, k := range sortedKeys(l.Seen, l.Live) {
			if _, ok := cells[k]; !ok {
				out = append(out, fmt.Sprintf("%s: %s passed in the learner's lab but has no cell on the grid", l.Name, k))
			}
		}
	}
	for _, r := range got.Learners {
		if !known[r.ID] {
			out = append(out, fmt.Sprintf("the grid has a learner who never joined: %s (%s)", r.Name, r.ID))
		}
	}
	out = append(out, streamMismatches(got, streamed)...)
	return out
}

// streamMismatches compares the grid kubelab answers with the one its
// event stream built: the same learners, each cell in the same state.
func streamMismatches(got gridJSON, streamed map[string]gridLearnerJSON) []string {
	var out []string
	for _, r := range got.Learners {
		s, ok := streamed[r.ID]
		if !ok {
			out = append(out, fmt.Sprintf("%s is on the grid but not on the streamed grid", r.Name))
			continue
		}
		states := map[taskKey]string{}
		for _, c := range s.Tasks {
			states[taskKey{c.Chapter, c.Task}] = c.State
		}
		for _, c := range r.Tasks {
			k := taskKey{c.Chapter, c.Task}
			if st, ok := states[k]; !ok || st != c.State {
				out = append(out, fmt.Sprintf("%s: %s is %s on the grid but %q on the streamed grid", r.Name, k, c.State, st))
			}
		}
		if len(s.Tasks) != len(r.Tasks) {
			out = append(out, fmt.Sprintf("%s: %d cells on the grid, %d on the streamed grid", r.Name, len(r.Tasks), len(s.Tasks)))
		}
	}
	ids := map[string]bool{}
	for _, r := range got.Learners {
		ids[r.ID] = true
	}
	for _, id := range slices.Sorted(maps.Keys(streamed)) {
		if !ids[id] {
			out = append(out, fmt.Sprintf("%s is on the streamed grid but not on the grid", streamed[id].Name))
		}
	}
	return out
}

// sortedKeys is the union of the sets' keys, in order.
func sortedKeys(sets ...map[taskKey]bool) []taskKey {
	all := map[taskKey]bool{}
	for _, s := range sets {
		for k, v := range s {
			if v {
				all[k] = true
			}
		}
	}
	return slices.SortedFunc(maps.Keys(all), func(a, b taskKey) int {
		return cmp.Or(strings.Compare(a.Chapter, b.Chapter), strings.Compare(a.Task, b.Task))
	})
}
