package grader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelab/kubelab/labs"
)

// TaskResult is the grade of one task.
type TaskResult struct {
	ID, Title string
	Points    int
	Score     float64 // partial credit: Points × passed checks / checks, preconditions not counted
	Passed    bool    // every check passed
	Checks    []CheckResult
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Passed  bool
	Message string // what the learner should achieve (the check's message)
	Detail  string // expected vs actual, e.g. "expected: object.spec.replicas == 3; actual: 2"
	// Error is set when the check could not be evaluated (timeout, API
	// error, CEL runtime error): the result says nothing about the learner's
	// progress and must not be shown as "not yet".
	Error string
	// Precondition is copied from the check: it must pass, but scores nothing.
	Precondition bool
}

// ErrUnknownTask is returned by EvaluateTask for a task the chapter lacks.
var ErrUnknownTask = errors.New("unknown task")

// Evaluate grades every task of the chapter against the target, reading the
// API directly. Checks that cannot be evaluated carry an Error.
func (p *Program) Evaluate(ctx context.Context, t Target) []TaskResult {
	srcs := apiSources(t)
	p.prefetch(ctx, t, srcs)
	out := make([]TaskResult, len(p.tasks))
	for i, ct := range p.tasks {
		out[i] = p.evalTask(ctx, t, srcs, ct)
	}
	return out
}

// EvaluateTask grades one task; the error is ErrUnknownTask (wrapped) when the
// chapter has no such task.
func (p *Program) EvaluateTask(ctx context.Context, t Target, taskID string) (TaskResult, error) {
	ct, ok := p.byID[taskID]
	if !ok {
		return TaskResult{}, fmt.Errorf("task %q of chapter %s: %w", taskID, p.chapter, ErrUnknownTask)
	}
	return p.evalTask(ctx, t, apiSources(t), ct), nil
}

// prefetch issues the chapter's distinct reads concurrently, so an
// evaluation costs about one round trip rather than one per object; the
// checks then read from the memo. Failed reads are retried (and reported)
// by the checks themselves.
func (p *Program) prefetch(ctx context.Context, t Target, srcs sources) {
	type read struct {
		m        source
		gvr      schema.GroupVersionResource
		ns, name string
		sel      labels.Selector
	}
	seen := map[string]bool{}
	var reads []read
	for _, ct := range p.tasks {
		for _, cc := range ct.checks {
			if cc.source != fromResource {
				continue
			}
			tc, err := t.on(cc.spec.Cluster)
			if err != nil {
				continue
			}
			gvr, ns, err := tc.locate(cc.spec.Resource.Namespace, cc.gvk)
			if err != nil {
				continue
			}
			r := read{m: srcs[cc.spec.Cluster], gvr: gvr, ns: ns, name: cc.spec.Resource.Name, sel: cc.sel}
			k := cc.spec.Cluster + "|" + gvr.String() + "|" + ns + "|" + r.name
			if cc.sel != nil {
				k += "|" + cc.sel.String()
			}
			if !seen[k] {
				seen[k] = true
				reads = append(reads, r)
			}
		}
	}
	if len(reads) < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.checkTimeout())
	defer cancel()
	var wg sync.WaitGroup
	limit := make(chan struct{}, 8)
	for _, r := range reads {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			if r.name != "" {
				_, _ = r.m.get(ctx, r.gvr, r.ns, r.name)
			} else {
				_, _ = r.m.list(ctx, r.gvr, r.ns, r.sel)
			}
		})
	}
	wg.Wait()
}

func (p *Program) evalTask(ctx context.Context, t Target, srcs sources, ct *compiledTask) TaskResult {
	r := TaskResult{ID: ct.task.ID, Title: ct.task.Title, Points: ct.task.Points, Checks: make([]CheckResult, len(ct.checks))}
	if r.Points == 0 {
		r.Points = 1
	}
	passed, goals, goalsPassed := 0, 0, 0
	// Resource checks first: exec and probe checks cost a round trip into
	// a container or a Pod of their own, so they run only once every
	// resource check of the task passes (before that the task cannot pass).
	resourcesPass := true
	for i, cc := range ct.checks {
		if cc.source != fromResource {
			continue
		}
		tc, src, err := srcs.of(t, cc)
		if err != nil {
			r.Checks[i] = evalError(ctx, CheckResult{Message: cc.spec.Message}, err)
		} else {
			cctx, cancel := context.WithTimeout(ctx, p.timeoutOf(cc))
			r.Checks[i] = evalCheck(cctx, tc, src, cc)
			cancel()
		}
		resourcesPass = resourcesPass && r.Checks[i].Passed
	}
	for i, cc := range ct.checks {
		switch {
		case cc.source == fromResource:
		case !resourcesPass:
			r.Checks[i] = CheckResult{Message: cc.spec.Message, Detail: "not run yet: the task's other checks must pass first"}
		default:
			tc, src, err := srcs.of(t, cc)
			if err != nil {
				r.Checks[i] = evalError(ctx, CheckResult{Message: cc.spec.Message}, err)
				break
			}
			cctx, cancel := context.WithTimeout(ctx, p.timeoutOf(cc))
			r.Checks[i] = p.evalActive(cctx, tc, src, cc)
			cancel()
		}
		r.Checks[i].Precondition = cc.spec.Precondition
		if r.Checks[i].Passed {
			passed++
		}
		if !cc.spec.Precondition {
			goals++
			if r.Checks[i].Passed {
				goalsPassed++
			}
		}
	}
	if goals > 0 {
		r.Score = float64(r.Points) * float64(goalsPassed) / float64(goals)
		r.Passed = passed == len(ct.checks)
	}
	return r
}

// evalError is the result of a check that could not be evaluated.
func evalError(ctx context.Context, res CheckResult, err error) CheckResult {
	res.Passed = false
	res.Error = err.Error()
	if ctx.Err() != nil {
		res.Error = "timed out: " + res.Error
	}
	return res
}

// evalCheck evaluates one resource check; every failure to evaluate becomes Error.
func evalCheck(ctx context.Context, t Target, src source, cc *compiledCheck) CheckResult {
	res := CheckResult{Message: cc.spec.Message}
	fail := func(err error) CheckResult { return evalError(ctx, res, err) }
	gvr, ns, err := t.locate(cc.spec.Resource.Namespace, cc.gvk)
	if err != nil {
		return fail(err)
	}
	kind := cc.spec.Resource.Kind
	objs, err := selectObjects(ctx, src, gvr, ns, cc.spec.Resource.Name, cc.sel)
	if err != nil {
		return fail(err)
	}
	if cc.spec.Resource.Name != "" && len(objs) == 0 && cc.spec.Match != labs.MatchNone {
		res.Detail = fmt.Sprintf("no %s %q%s", kind, cc.spec.Resource.Name, inNamespace(ns))
		return res
	}
	vars := map[string]any{}
	for _, b := range cc.with {
		bgvr, bns, err := t.locate(b.spec.Namespace, b.gvk)
		if err != nil {
			return fail(fmt.Errorf("with %s: %w", b.name, err))
		}
		bound, err := selectObjects(ctx, src, bgvr, bns, b.spec.Name, b.sel)
		if err != nil {
			return fail(fmt.Errorf("with %s: %w", b.name, err))
		}
		list := make([]any, len(bound))
		for i, o := range bound {
			list[i] = o.Object
		}
		vars[b.name] = list
	}

	matched := 0
	var firstMiss *unstructured.Unstructured
	var firstMissActual string
	for _, obj := range objs {
		ok, actual, err := cc.evalObject(ctx, obj, vars)
		if err != nil {
			return fail(fmt.Errorf("%s %q: %w", kind, obj.GetName(), err))
		}
		if ok {
			matched++
		} else if firstMiss == nil {
			firstMiss, firstMissActual = obj, actual
		}
	}

	n := len(objs)
	what := describeSelection(cc.spec.Resource, ns)
	miss := ""
	if firstMiss != nil {
		miss = fmt.Sprintf("expected: %s; actual: %s", cc.expectText, firstMissActual)
		if cc.spec.Resource.Name == "" {
			miss = fmt.Sprintf("%s %q: %s", kind, firstMiss.GetName(), miss)
		}
	}
	switch cc.spec.Match {
	case labs.MatchAny:
		res.Passed = matched > 0
		switch {
		case n == 0:
			res.Detail = "no " + what
		case !res.Passed:
			res.Detail = fmt.Sprintf("none of %d %s match; %s", n, kindPlural(kind), miss)
		}
	case labs.MatchCount:
		res.Passed = (cc.spec.Min == nil || matched >= *cc.spec.Min) && (cc.spec.Max == nil || matched <= *cc.spec.Max)
		if !res.Passed {
			res.Detail = fmt.Sprintf("%d of %d %s match (want %s)", matched, n, kindPlural(kind), bounds(cc.spec.Min, cc.spec.Max))
			if n == 0 {
				res.Detail = fmt.Sprintf("no %s (want %s)", what, bounds(cc.spec.Min, cc.spec.Max))
			}
		}
	case labs.MatchNone:
		res.Passed = matched == 0
		if !res.Passed {
			var first *unstructured.Unstructured
			for _, obj := range objs {
				if ok, _, _ := cc.evalObject(ctx, obj, vars); ok {
					first = obj
					break
				}
			}
			switch {
			case cc.expect == nil && cc.spec.Resource.Name != "":
				res.Detail = fmt.Sprintf("%s %q exists%s (want none)", kind, first.GetName(), inNamespace(ns))
			case cc.expect == nil:
				res.Detail = fmt.Sprintf("%d %s exist (want none): %s %q first", matched, what, kind, first.GetName())
			default:
				res.Detail = fmt.Sprintf("%d of %d %s match %s (want none): %s %q first", matched, n, kindPlural(kind), cc.expectText, kind, first.GetName())
			}
		}
	default: // labs.MatchAll
		res.Passed = n > 0 && matched == n
		switch {
		case n == 0:
			res.Detail = "no " + what
		case !res.Passed && n == 1:
			res.Detail = miss
		case !res.Passed:
			res.Detail = fmt.Sprintf("%d of %d %s match (want all); %s", matched, n, kindPlural(kind), miss)
		}
	}
	return res
}

// describeSelection says what a check selects, for "no …" details.
func describeSelection(r labs.Resource, ns string) string {
	switch {
	case r.Name != "":
		return fmt.Sprintf("%s %q%s", r.Kind, r.Name, inNamespace(ns))
	case r.Selector != "":
		return fmt.Sprintf("%s matching %q%s", r.Kind, r.Selector, inNamespace(ns))
	}
	return r.Kind + inNamespace(ns)
}

// inNamespace says where objects were looked for: a namespace, or the
// cluster for cluster-scoped kinds.
func inNamespace(ns string) string {
	if ns == "" {
		return " in the cluster"
	}
	return " in namespace " + ns
}

func bounds(minV, maxV *int) string {
	switch {
	case minV != nil && maxV != nil && *minV == *maxV:
		return fmt.Sprintf("exactly %d", *minV)
	case minV != nil && maxV != nil:
		return fmt.Sprintf("between %d and %d", *minV, *maxV)
	case minV != nil:
		return fmt.Sprintf("at least %d", *minV)
	case maxV != nil:
		return fmt.Sprintf("at most %d", *maxV)
	}
	return "any number"
}

// evalObject evaluates expect on one object. actual is the rendered actual
// side, computed only when expect does not hold.
// vars holds the check's with bindings.
func (cc *compiledCheck) evalObject(ctx context.Context, obj *unstructured.Unstructured, vars map[string]any) (bool, string, error) {
	if cc.expect == nil {
		return true, "", nil
	}
	all := make(map[string]any, len(vars)+1)
	maps.Copy(all, vars)
	all["object"] = obj.Object
	return cc.evalVars(ctx, all, nil)
}

// selectObjects reads the object named name (none or one) or the objects
// sel selects, sorted by name.
func selectObjects(ctx context.Context, src source, gvr schema.GroupVersionResource, ns, name string, sel labels.Selector) ([]*unstructured.Unstructured, error) {
	if name != "" {
		obj, err := src.get(ctx, gvr, ns, name)
		if err != nil || obj == nil {
			return nil, err
		}
		return []*unstructured.Unstructured{obj}, nil
	}
	objs, err := src.list(ctx, gvr, ns, sel)
	if err != nil {
		return nil, err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].GetName() < objs[j].GetName() })
	return objs, nil
}

// evalVars evaluates expect over vars. When it does not hold, actual is the
// actual expression's value, else fallback's (nil: "false").
func (cc *compiledCheck) evalVars(ctx context.Context, vars map[string]any, fallback func() string) (bool, string, error) {
	v, _, err := cc.expect.ContextEval(ctx, vars)
	if err != nil {
		if isMissingField(err) {
			// The learner's object lacks a field the check reads: that is
			// "not yet", not an evaluation failure.
			return false, "field missing (" + err.Error() + ")", nil
		}
		if ctx.Err() != nil {
			return false, "", fmt.Errorf("evaluate expect: %w", ctx.Err())
		}
		return false, "", fmt.Errorf("evaluate expect: %w", err)
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, "", fmt.Errorf("expect gave %s, not a bool", v.Type().TypeName())
	}
	if b {
		return true, "", nil
	}
	if cc.actual == nil && fallback != nil {
		return false, fallback(), nil
	}
	return false, cc.renderActual(ctx, vars), nil
}

// renderActual shows the actual side of a failed check; without one, it
// says the expectation was false.
func (cc *compiledCheck) renderActual(ctx context.Context, vars map[string]any) string {
	if cc.actual == nil {
		return "false"
	}
	v, _, err := cc.actual.ContextEval(ctx, vars)
	if err != nil {
		if isMissingField(err) {
			return "<missing>"
		}
		return "<" + err.Error() + ">"
	}
	return formatValue(v)
}

func isMissingField(err error) bool {
	s := err.Error()
	return strings.Contains(s, "no such key") || strings.Contains(s, "no such attribute") ||
		strings.Contains(s, "index out of range")
}

// maxActual bounds how much of an actual value a detail shows.
const maxActual = 200

// formatValue renders a CEL value as compact JSON; HTML stays as it is
// (a page an exec or probe check read): the UI escapes what it shows.
func formatValue(v ref.Val) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	s := fmt.Sprint(v.Value())
	if err := enc.Encode(nativeOf(v)); err == nil {
		s = strings.TrimSuffix(b.String(), "\n")
	}
	if len(s) > maxActual {
		cut := maxActual
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func nativeOf(v ref.Val) any {
	switch x := v.(type) {
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			out[fmt.Sprint(nativeOf(k))] = nativeOf(x.Get(k))
		}
		return out
	case traits.Lister:
		var out []any
		it := x.Iterator()
		for it.HasNext() == types.True {
			out = append(out, nativeOf(it.Next()))
		}
		return out
	}
	switch x := v.Value().(type) {
	case fmt.Stringer:
		return x.String()
	default:
		return x
	}
}
