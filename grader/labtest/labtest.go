// Package labtest owns the engine behind `kubelab labs test`: it proves a
// chapter's tasks in a fresh lab session, in order, exactly as a learner
// would meet them — the session's setup has run, no check that scores may
// pass before the learner acts, each task's checks fail, its reference
// solution runs in the learner's shell, and its checks then pass within a
// timeout.
package labtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
)

// Runner runs a non-interactive shell script with the learner's
// credentials (the jailed shell, in production) and returns its combined
// output.
type Runner interface {
	Run(ctx context.Context, script string) (output []byte, err error)
}

// Env is one fresh lab session for one chapter, its setup done.
type Env struct {
	Target grader.Target // what the grader reads (kubelab's credentials, restricted to the sandbox)
	Runner Runner        // the learner's shell in the sandbox
}

// Options configure Run.
type Options struct {
	Chapters []*labs.Chapter // in catalog order, e.g. Catalog.Chapters()
	Chapter  string          // run only this chapter id; empty runs all
	// NewSandbox starts a fresh lab session for a chapter, as `kubelab serve`
	// does (setup included); cleanup ends it once the chapter is done.
	NewSandbox func(ctx context.Context, ch *labs.Chapter) (env Env, cleanup func(), err error)
	Out        io.Writer // progress lines as tasks finish; nil discards

	PassTimeout   time.Duration // how long the checks may take to pass after the solution (default 60s)
	ScriptTimeout time.Duration // bound of one solution script (default 2m)
	PollInterval  time.Duration // how often checks are re-evaluated while waiting (default 200ms)
}

// Report is the outcome of a run.
type Report struct {
	Chapters []ChapterReport
}

// Failed counts failed tasks (and chapters that could not run).
func (r Report) Failed() int {
	n := 0
	for _, c := range r.Chapters {
		if c.Error != "" {
			n++
		}
		for _, t := range c.Tasks {
			if !t.Passed {
				n++
			}
		}
	}
	return n
}

// ChapterReport is one chapter's outcome.
type ChapterReport struct {
	ID       string
	Error    string // set when the chapter could not run at all (compile, sandbox)
	Sandbox  time.Duration
	Duration time.Duration // the whole chapter, sandbox included
	Tasks    []TaskReport
}

// TaskReport is one task's outcome with its timings.
type TaskReport struct {
	ID        string
	Passed    bool
	Problem   string        // why the task failed
	Output    string        // output of the script that failed, if any
	FailFirst time.Duration // evaluating the checks before the solution
	Solution  time.Duration // running the solution
	PassAfter time.Duration // from the end of the solution to all checks passing
}

// ErrFailed is returned (wrapped) by Run when any task or chapter failed.
var ErrFailed = errors.New("labs test failed")

// Run tests the chapters and returns the report; the error wraps ErrFailed
// when anything failed, or says why nothing could run.
func Run(ctx context.Context, opts Options) (Report, error) {
	if opts.NewSandbox == nil {
		return Report{}, errors.New("labs test: NewSandbox is required")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.PassTimeout <= 0 {
		opts.PassTimeout = 60 * time.Second
	}
	if opts.ScriptTimeout <= 0 {
		opts.ScriptTimeout = 2 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	var rep Report
	for _, ch := range opts.Chapters {
		if opts.Chapter != "" && ch.ID != opts.Chapter {
			continue
		}
		rep.Chapters = append(rep.Chapters, runChapter(ctx, opts, ch))
		if ctx.Err() != nil {
			return rep, fmt.Errorf("labs test: %w", ctx.Err())
		}
	}
	if len(rep.Chapters) == 0 {
		if opts.Chapter != "" {
			return rep, fmt.Errorf("labs test: no chapter %q", opts.Chapter)
		}
		return rep, errors.New("labs test: no chapters")
	}
	if n := rep.Failed(); n > 0 {
		fmt.Fprintf(opts.Out, "FAIL: %d failed\n", n)
		return rep, fmt.Errorf("%w: %d failed", ErrFailed, n)
	}
	noun := "chapters"
	if len(rep.Chapters) == 1 {
		noun = "chapter"
	}
	fmt.Fprintf(opts.Out, "ok: %d %s\n", len(rep.Chapters), noun)
	return rep, nil
}

func runChapter(ctx context.Context, opts Options, ch *labs.Chapter) ChapterReport {
	t0 := time.Now()
	cr := ChapterReport{ID: ch.ID}
	defer func() {
		cr.Duration = time.Since(t0)
		status := "ok  "
		if cr.Error != "" || cr.failed() {
			status = "FAIL"
		}
		fmt.Fprintf(opts.Out, "%s %s (%d tasks, sandbox %s, total %s)\n", status, ch.ID, len(cr.Tasks), round(cr.Sandbox), round(cr.Duration))
		if cr.Error != "" {
			fmt.Fprintf(opts.Out, "    %s\n", cr.Error)
		}
	}()
	prog, err := grader.Compile(ch)
	if err != nil {
		cr.Error = err.Error()
		return cr
	}
	env, cleanup, err := opts.NewSandbox(ctx, ch)
	cr.Sandbox = time.Since(t0)
	if err != nil {
		cr.Error = fmt.Sprintf("sandbox: %v", err)
		return cr
	}
	defer cleanup()
	early := creditBeforeActing(startState(ctx, prog, env.Target, opts))
	for _, task := range ch.Tasks {
		tr := runTask(ctx, opts, prog, env, task)
		if p, ok := early[task.ID]; ok && tr.Passed {
			tr.Passed, tr.Problem = false, p
		}
		cr.Tasks = append(cr.Tasks, tr)
		line := fmt.Sprintf("fail-first %s, solution %s, pass after %s",
			round(tr.FailFirst), round(tr.Solution), round(tr.PassAfter))
		if tr.Passed {
			fmt.Fprintf(opts.Out, "  ok   %s/%s (%s)\n", ch.ID, task.ID, line)
			continue
		}
		fmt.Fprintf(opts.Out, "  FAIL %s/%s (%s)\n       %s\n", ch.ID, task.ID, line, indent(tr.Problem))
		if tr.Output != "" {
			fmt.Fprintf(opts.Out, "       output:\n       %s\n", indent(tr.Output))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return cr
}

func (cr ChapterReport) failed() bool {
	for _, t := range cr.Tasks {
		if !t.Passed {
			return true
		}
	}
	return false
}

// settle is how long the start state is watched: objects the setup made
// may still converge (Pods becoming ready) after the session is ready, and
// a check they make pass is credit before acting all the same.
const settle = 1500 * time.Millisecond

// startState grades the chapter repeatedly over the settling time and keeps,
// per check, whether it ever passed (or could not be evaluated).
func startState(ctx context.Context, prog *grader.Program, t grader.Target, opts Options) []grader.TaskResult {
	seen := prog.Evaluate(ctx, t)
	for deadline := time.Now().Add(settle); time.Now().Before(deadline) && ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-time.After(opts.PollInterval):
		}
		for i, r := range prog.Evaluate(ctx, t) {
			for j, c := range r.Checks {
				if c.Passed || c.Error != "" {
					seen[i].Checks[j] = c
				}
			}
		}
	}
	return seen
}

// creditBeforeActing finds the checks that already pass in the start state:
// a learner would score them without doing anything, an authoring error
// unless the check is marked a precondition (which scores nothing).
func creditBeforeActing(start []grader.TaskResult) map[string]string {
	out := map[string]string{}
	for _, r := range start {
		var bad []string
		for i, c := range r.Checks {
			switch {
			case c.Error != "":
				bad = append(bad, fmt.Sprintf("check %d could not be evaluated in the start state: %s", i+1, c.Error))
			case c.Passed && !c.Precondition:
				bad = append(bad, fmt.Sprintf("check %d (%s) already passes when the learner arrives, so it gives credit for nothing done; "+
					"make it measure the learner's work, or mark it `precondition: true` so it scores nothing", i+1, c.Message))
			}
		}
		if len(bad) > 0 {
			out[r.ID] = strings.Join(bad, "; ")
		}
	}
	return out
}

func runTask(ctx context.Context, opts Options, prog *grader.Program, env Env, task *labs.Task) TaskReport {
	tr := TaskReport{ID: task.ID}
	script := func(name, src string) bool {
		sctx, cancel := context.WithTimeout(ctx, opts.ScriptTimeout)
		defer cancel()
		out, err := env.Runner.Run(sctx, src)
		if err != nil {
			tr.Problem = fmt.Sprintf("%s: %v", name, err)
			tr.Output = strings.TrimSpace(string(out))
			return false
		}
		return true
	}
	t0 := time.Now()
	r, err := prog.EvaluateTask(ctx, env.Target, task.ID)
	tr.FailFirst = time.Since(t0)
	if err != nil {
		tr.Problem = err.Error()
		return tr
	}
	if msg := evalErrors(r); msg != "" {
		tr.Problem = "checks could not be evaluated before the solution: " + msg
		return tr
	}
	if r.Passed {
		tr.Problem = "checks pass before the solution ran (the task is already done when the learner arrives)"
		return tr
	}

	t0 = time.Now()
	ok := script("solution", task.Solution)
	tr.Solution = time.Since(t0)
	if !ok {
		return tr
	}

	t0 = time.Now()
	wait := opts.PassTimeout
	for _, c := range task.Checks { // a check that converges slowly says so
		wait = max(wait, c.Within)
	}
	deadline := time.Now().Add(wait)
	for {
		r, err = prog.EvaluateTask(ctx, env.Target, task.ID)
		if err != nil {
			tr.Problem = err.Error()
			return tr
		}
		if r.Passed {
			tr.PassAfter = time.Since(t0)
			tr.Passed = true
			return tr
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			tr.PassAfter = time.Since(t0)
			tr.Problem = fmt.Sprintf("checks still fail %s after the solution: %s", round(wait), failing(r))
			return tr
		}
		select {
		case <-ctx.Done():
		case <-time.After(opts.PollInterval):
		}
	}
}

// evalErrors lists the checks that could not be evaluated.
func evalErrors(r grader.TaskResult) string {
	var out []string
	for i, c := range r.Checks {
		if c.Error != "" {
			out = append(out, fmt.Sprintf("check %d: %s", i+1, c.Error))
		}
	}
	return strings.Join(out, "; ")
}

// failing lists the failed checks with their details.
func failing(r grader.TaskResult) string {
	var out []string
	for i, c := range r.Checks {
		if c.Passed {
			continue
		}
		d := c.Detail
		if c.Error != "" {
			d = "error: " + c.Error
		}
		out = append(out, fmt.Sprintf("check %d (%s): %s", i+1, c.Message, d))
	}
	return strings.Join(out, "; ")
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n       ") }
