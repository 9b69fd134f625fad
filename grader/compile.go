// Package grader owns the grading of tasks: it compiles the CEL checks of a
// chapter (labs.Check) into a Program, evaluates them against the objects in
// one learner's sandbox — read with kubelab's own credentials but only ever
// inside the sandbox's namespaces — and, live, watches those objects and
// re-evaluates only the tasks an object change can affect. It knows nothing of
// HTTP or databases; results are plain values the server stores and pushes.
package grader

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/parser"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/library"

	"github.com/kubelab/kubelab/labs"
)

const (
	// costLimit bounds the work of one expression on one object, in CEL cost
	// units (about one per field access or comparison). Kubernetes allows 1e6
	// per validation rule; a check over one small object never needs that
	// much, and a hostile expression is stopped long before it can spin.
	costLimit = 1_000_000
	// interruptEvery makes comprehensions look at the context this often.
	interruptEvery = 100
	// DefaultCheckTimeout bounds the evaluation of one check (API reads and
	// CEL) when Program.CheckTimeout is zero.
	DefaultCheckTimeout = 5 * time.Second
)

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// celEnv returns the one CEL environment every check compiles in: `object`
// is the unstructured object as a dynamic map, with the Kubernetes CEL
// libraries (lists, regex, URLs, quantities, IPs, CIDRs, formats, semver) and
// the cel-go string extensions.
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("object", cel.DynType),
			cel.HomogeneousAggregateLiterals(),
			cel.EagerlyValidateDeclarations(true),
			cel.DefaultUTCTimeZone(true),
			ext.Strings(ext.StringsVersion(2)),
			library.Lists(),
			library.Regex(),
			library.URLs(),
			library.Quantity(),
			library.IP(),
			library.CIDR(),
			library.Format(),
			library.SemverLib(),
		)
		if envErr != nil {
			envErr = fmt.Errorf("create cel environment: %w", envErr)
		}
	})
	return env, envErr
}

// compiledCheck is one check ready to evaluate.
type compiledCheck struct {
	spec   labs.Check
	gvk    schema.GroupVersionKind
	sel    labels.Selector // nil when the check names one object
	expect cel.Program     // nil means "the object exists"
	actual cel.Program     // nil when there is nothing to show
	// actualText is the source of actual (explicit, or derived from the left
	// side of a top-level comparison in expect).
	actualText string
}

// CompileCheck validates one check: its resource, match bounds, and CEL
// expressions (expect must be a bool). The labs loader calls it so a broken
// check is reported with its file and line before anything runs.
func CompileCheck(c labs.Check) error {
	_, err := compileCheck(c)
	return err
}

func compileCheck(c labs.Check) (*compiledCheck, error) {
	cc := &compiledCheck{spec: c}
	var errs []error
	if c.Resource.APIVersion == "" {
		errs = append(errs, errors.New("resource.apiVersion is required"))
	}
	if c.Resource.Kind == "" {
		errs = append(errs, errors.New("resource.kind is required"))
	}
	gv, err := schema.ParseGroupVersion(c.Resource.APIVersion)
	if err != nil {
		errs = append(errs, fmt.Errorf("resource.apiVersion %q: %w", c.Resource.APIVersion, err))
	}
	cc.gvk = gv.WithKind(c.Resource.Kind)
	if c.Resource.Name != "" && c.Resource.Selector != "" {
		errs = append(errs, errors.New("resource.name and resource.selector are exclusive"))
	}
	if c.Resource.Name == "" {
		sel, err := labels.Parse(c.Resource.Selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("resource.selector %q: %w", c.Resource.Selector, err))
		}
		cc.sel = sel
	}
	switch c.Match {
	case "", labs.MatchAll, labs.MatchAny:
		if c.Min != nil || c.Max != nil {
			errs = append(errs, fmt.Errorf("min and max apply only to match %q", labs.MatchCount))
		}
	case labs.MatchCount:
		if c.Min == nil && c.Max == nil {
			errs = append(errs, fmt.Errorf("match %q needs min, max or both", labs.MatchCount))
		}
		if c.Min != nil && *c.Min < 0 || c.Max != nil && *c.Max < 0 {
			errs = append(errs, errors.New("min and max must not be negative"))
		}
		if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
			errs = append(errs, fmt.Errorf("min %d is greater than max %d", *c.Min, *c.Max))
		}
	default:
		errs = append(errs, fmt.Errorf("match %q: want %q, %q or %q", c.Match, labs.MatchAll, labs.MatchAny, labs.MatchCount))
	}
	if c.Expect != "" {
		prg, checked, err := compileExpr(c.Expect, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("expect: %w", err))
		} else {
			cc.expect = prg
			if c.Actual == "" {
				cc.actualText = comparedSide(checked)
			}
		}
	}
	if c.Actual != "" {
		cc.actualText = c.Actual
	}
	if cc.actualText != "" {
		prg, _, err := compileExpr(cc.actualText, false)
		switch {
		case err != nil && c.Actual != "":
			errs = append(errs, fmt.Errorf("actual: %w", err))
		case err == nil:
			cc.actual = prg
		default: // a derived actual that does not compile on its own: show none
			cc.actualText = ""
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cc, nil
}

// compileExpr compiles and type-checks one expression.
func compileExpr(src string, wantBool bool) (cel.Program, *cel.Ast, error) {
	e, err := celEnv()
	if err != nil {
		return nil, nil, err
	}
	checked, iss := e.Compile(src)
	if iss.Err() != nil {
		return nil, nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if wantBool {
		if t := checked.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			return nil, nil, fmt.Errorf("must be a bool, not %s", t)
		}
	}
	prg, err := e.Program(checked,
		cel.CostLimit(costLimit),
		cel.CostTracking(&library.CostEstimator{}),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("build program: %w", err)
	}
	return prg, checked, nil
}

// comparedSide returns the source of the left operand when expect is a
// top-level comparison such as `object.spec.replicas == 3`, so a failed
// check can show the actual value without the author writing `actual`.
func comparedSide(checked *cel.Ast) string {
	native := checked.NativeRep()
	expr := native.Expr()
	if expr.Kind() != ast.CallKind {
		return ""
	}
	call := expr.AsCall()
	switch call.FunctionName() {
	case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "@in":
	default:
		return ""
	}
	if len(call.Args()) != 2 {
		return ""
	}
	lhs := call.Args()[0]
	if lhs.Kind() == ast.LiteralKind {
		lhs = call.Args()[1]
	}
	if lhs.Kind() == ast.LiteralKind {
		return ""
	}
	src, err := parser.Unparse(lhs, native.SourceInfo())
	if err != nil {
		return ""
	}
	return src
}

// Program is a chapter's checks, compiled once and evaluated many times
// against different sandboxes. It is safe for concurrent use.
type Program struct {
	// CheckTimeout bounds each check's evaluation; zero means
	// DefaultCheckTimeout. Set it before the first use.
	CheckTimeout time.Duration

	chapter string
	tasks   []*compiledTask
	byID    map[string]*compiledTask
}

type compiledTask struct {
	task   *labs.Task
	checks []*compiledCheck
}

// Compile compiles every check of a chapter. Errors name the task and the
// check's source position.
func Compile(ch *labs.Chapter) (*Program, error) {
	p := &Program{chapter: ch.ID, byID: map[string]*compiledTask{}}
	var errs []error
	for _, t := range ch.Tasks {
		ct := &compiledTask{task: t}
		for i, c := range t.Checks {
			cc, err := compileCheck(c)
			if err != nil {
				pos := fmt.Sprintf("task %s check %d", t.ID, i+1)
				if c.File != "" {
					pos = fmt.Sprintf("%s:%d: %s", c.File, c.Line, pos)
				}
				errs = append(errs, fmt.Errorf("%s: %w", pos, err))
				continue
			}
			ct.checks = append(ct.checks, cc)
		}
		p.tasks = append(p.tasks, ct)
		p.byID[t.ID] = ct
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compile checks of chapter %s: %w", ch.ID, err)
	}
	return p, nil
}

func (p *Program) checkTimeout() time.Duration {
	if p.CheckTimeout > 0 {
		return p.CheckTimeout
	}
	return DefaultCheckTimeout
}
