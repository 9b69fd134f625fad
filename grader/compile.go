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
	"net/url"
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
	// DefaultProbeImage runs probe checks when Program.ProbeImage is empty.
	DefaultProbeImage = "busybox:1.36"
)

// newEnv makes a CEL environment with the given variables, the Kubernetes
// CEL libraries (lists, regex, URLs, quantities, IPs, CIDRs, formats, semver),
// optional types (`object.?spec.?replicas.orValue(1)`) and the cel-go
// extensions for strings, base64 (`base64.decode`), sets and math. List
// literals may mix types (`actual: "[object.spec.replicas, object.status]"`).
func newEnv(vars ...cel.EnvOption) (*cel.Env, error) {
	e, err := cel.NewEnv(append(vars,
		cel.OptionalTypes(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(ext.StringsVersion(2)),
		ext.Encoders(),
		ext.Lists(ext.ListsVersion(2)),
		ext.Sets(),
		ext.Math(),
		library.Lists(),
		library.Regex(),
		library.URLs(),
		library.Quantity(),
		library.IP(),
		library.CIDR(),
		library.Format(),
		library.SemverLib(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("create cel environment: %w", err)
	}
	return e, nil
}

// One environment per check source. `object` is the unstructured object as
// a dynamic map; the others are typed, so `output.contains(1)` is an error
// when the chapter loads rather than when a learner is graded.
var (
	objectEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(cel.Variable("object", cel.DynType), helmReleaseLib())
	})
	execEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(cel.Variable("output", cel.StringType), cel.Variable("stdout", cel.StringType),
			cel.Variable("stderr", cel.StringType), cel.Variable("exitCode", cel.IntType))
	})
	httpEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(cel.Variable("status", cel.IntType), cel.Variable("body", cel.StringType),
			cel.Variable("error", cel.StringType))
	})
	dnsEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(cel.Variable("addresses", cel.ListType(cel.StringType)), cel.Variable("error", cel.StringType))
	})
)

// withEnv is objectEnv with a check's with bindings, each a list of objects.
func withEnv(with []labs.Binding) func() (*cel.Env, error) {
	return func() (*cel.Env, error) {
		base, err := objectEnv()
		if err != nil {
			return nil, err
		}
		vars := make([]cel.EnvOption, 0, len(with))
		for _, b := range with {
			vars = append(vars, cel.Variable(b.Name, cel.ListType(cel.DynType)))
		}
		return base.Extend(vars...)
	}
}

// checkSource is where a check's values come from.
type checkSource int

const (
	fromResource checkSource = iota // API objects: object
	fromExec                        // a command in a container: output, stdout, stderr, exitCode
	fromHTTP                        // a probe's GET: status, body, error
	fromDNS                         // a probe's lookup: addresses, error
)

// Expectations of exec and probe checks without an expect.
var defaultExpect = map[checkSource]string{
	fromExec: "exitCode == 0",
	fromHTTP: "status >= 200 && status <= 399",
	fromDNS:  "addresses.size() > 0",
}

// compiledCheck is one check ready to evaluate.
type compiledCheck struct {
	spec   labs.Check
	source checkSource
	gvk    schema.GroupVersionKind // resource checks
	// sel selects the objects of a resource check, or the Pods an exec
	// check picks from; nil when the check names one.
	sel    labels.Selector
	expect cel.Program // nil means "the object exists"
	// expectText is the expectation details show: the check's expect, or
	// the default of an exec or probe check.
	expectText string
	actual     cel.Program // nil when there is nothing to show
	// actualText is the source of actual (explicit, or derived from the left
	// side of a top-level comparison in expect).
	actualText string
	timeout    time.Duration // exec and probe: the bound of the command or the probe
	with       []binding     // resource checks: other objects, as lists
}

// binding is one with variable of a resource check, compiled.
type binding struct {
	name string
	spec labs.Resource
	gvk  schema.GroupVersionKind
	sel  labels.Selector // nil when it names one object
}

// CompileCheck validates one check: its source (resource, exec or probe),
// match bounds, and CEL expressions (expect must be a bool). The labs loader
// calls it so a broken check is reported with its file and line before
// anything runs.
func CompileCheck(c labs.Check) error {
	_, err := compileCheck(c)
	return err
}

func compileCheck(c labs.Check) (*compiledCheck, error) {
	cc := &compiledCheck{spec: c, expectText: c.Expect}
	var errs []error
	sources := 0
	for _, set := range []bool{c.Resource != (labs.Resource{}), c.Exec != nil, c.Probe != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		errs = append(errs, errors.New("resource, exec and probe are exclusive"))
	}
	env := objectEnv
	switch {
	case c.Exec != nil:
		cc.source, env = fromExec, execEnv
		errs = append(errs, cc.compileExec(*c.Exec)...)
	case c.Probe != nil:
		errs = append(errs, cc.compileProbe(*c.Probe)...)
		env = httpEnv
		if cc.source == fromDNS {
			env = dnsEnv
		}
	default:
		errs = append(errs, cc.compileResource(c)...)
		if len(c.With) > 0 {
			env = withEnv(c.With)
		}
	}
	if cc.source != fromResource && (c.Match != "" && c.Match != labs.MatchAll || c.Min != nil || c.Max != nil) {
		errs = append(errs, errors.New("match, min and max apply only to resource checks"))
	}
	if cc.source != fromResource && len(c.With) > 0 {
		errs = append(errs, errors.New("with applies only to resource checks"))
	}
	if c.Within < 0 || c.Within > labs.MaxWithin {
		errs = append(errs, fmt.Errorf("within %s must be positive and at most %s", c.Within, labs.MaxWithin))
	}
	if cc.expectText == "" {
		cc.expectText = defaultExpect[cc.source]
	}
	if cc.expectText != "" {
		prg, checked, err := compileExpr(env, cc.expectText, true)
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
		prg, _, err := compileExpr(env, cc.actualText, false)
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

// compileResource validates which objects a resource check selects and how
// it counts them.
func (cc *compiledCheck) compileResource(c labs.Check) []error {
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
	seen := map[string]bool{"object": true}
	for _, b := range c.With {
		if seen[b.Name] {
			errs = append(errs, fmt.Errorf("with %s: the name is taken", b.Name))
		}
		seen[b.Name] = true
		cb := binding{name: b.Name, spec: b.Resource}
		gv, err := schema.ParseGroupVersion(b.Resource.APIVersion)
		if err != nil || b.Resource.Kind == "" {
			errs = append(errs, fmt.Errorf("with %s: want apiVersion and kind", b.Name))
		}
		cb.gvk = gv.WithKind(b.Resource.Kind)
		switch {
		case b.Resource.Name != "" && b.Resource.Selector != "":
			errs = append(errs, fmt.Errorf("with %s: name and selector are exclusive", b.Name))
		case b.Resource.Name == "":
			if cb.sel, err = labels.Parse(b.Resource.Selector); err != nil {
				errs = append(errs, fmt.Errorf("with %s: selector %q: %w", b.Name, b.Resource.Selector, err))
			}
		}
		cc.with = append(cc.with, cb)
	}
	switch c.Match {
	case "", labs.MatchAll, labs.MatchAny, labs.MatchNone:
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
		errs = append(errs, fmt.Errorf("match %q: want %q, %q, %q or %q", c.Match, labs.MatchAll, labs.MatchAny, labs.MatchCount, labs.MatchNone))
	}
	return errs
}

// compileExec validates which container an exec check runs what in.
func (cc *compiledCheck) compileExec(e labs.Exec) []error {
	var errs []error
	switch {
	case e.Pod != "" && e.Selector != "":
		errs = append(errs, errors.New("exec.pod and exec.selector are exclusive"))
	case e.Pod == "" && e.Selector == "":
		errs = append(errs, errors.New("exec needs pod or selector"))
	case e.Selector != "":
		sel, err := labels.Parse(e.Selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("exec.selector %q: %w", e.Selector, err))
		}
		cc.sel = sel
	}
	if len(e.Command) == 0 || e.Command[0] == "" {
		errs = append(errs, errors.New("exec.command is required"))
	}
	var err error
	if cc.timeout, err = boundTimeout("exec", e.Timeout, labs.DefaultExecTimeout); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// compileProbe validates what a probe asks.
func (cc *compiledCheck) compileProbe(p labs.Probe) []error {
	var errs []error
	cc.source = fromHTTP
	switch {
	case p.HTTP != "" && p.DNS != "":
		errs = append(errs, errors.New("probe.http and probe.dns are exclusive"))
	case p.HTTP == "" && p.DNS == "":
		errs = append(errs, errors.New("probe needs http or dns"))
	case p.DNS != "":
		cc.source = fromDNS
	default:
		if u, err := url.Parse(p.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("probe.http %q must be an http:// or https:// URL", p.HTTP))
		}
	}
	var err error
	if cc.timeout, err = boundTimeout("probe", p.Timeout, labs.DefaultProbeTimeout); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// boundTimeout gives a zero timeout the default and refuses one out of range.
func boundTimeout(what string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < 0 || d > labs.MaxCheckTimeout:
		return def, fmt.Errorf("%s.timeout %s must be positive and at most %s", what, d, labs.MaxCheckTimeout)
	}
	return d, nil
}

// compileExpr compiles and type-checks one expression in an environment.
func compileExpr(env func() (*cel.Env, error), src string, wantBool bool) (cel.Program, *cel.Ast, error) {
	e, err := env()
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
	// ProbeImage runs probe checks: busybox's wget, nslookup, sh and head;
	// empty means DefaultProbeImage. Set it before the first use.
	ProbeImage string

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

// timeoutOf bounds one check's evaluation: an exec or probe check gets its
// own timeout on top, for the API calls around the command or probe (and
// for waiting on the sandbox's other exec or probe check).
func (p *Program) timeoutOf(cc *compiledCheck) time.Duration {
	if cc.source == fromResource {
		return p.checkTimeout()
	}
	return cc.timeout + p.checkTimeout()
}

func (p *Program) probeImage() string {
	if p.ProbeImage != "" {
		return p.ProbeImage
	}
	return DefaultProbeImage
}

// namespace is the logical namespace the check reads or runs in.
func (cc *compiledCheck) namespace() string {
	switch cc.source {
	case fromExec:
		return cc.spec.Exec.Namespace
	case fromHTTP, fromDNS:
		return cc.spec.Probe.Namespace
	}
	return cc.spec.Resource.Namespace
}

// hasActive reports whether the task has an exec or probe check.
func (ct *compiledTask) hasActive() bool {
	for _, cc := range ct.checks {
		if cc.source != fromResource {
			return true
		}
	}
	return false
}
