// Package labs owns the training content: it loads chapters from a file
// system (the bundled ones are embedded), validates them strictly, and renders
// their Markdown steps to safe HTML. It knows nothing of HTTP, databases or
// Kubernetes clients; check expressions are compiled by the grader, which the
// loader calls through Options.CompileCheck.
package labs

import (
	"errors"
	"time"
)

// ErrNotFound is returned when a chapter, step or task does not exist.
var ErrNotFound = errors.New("not found")

// Size classes a chapter may ask for; they pick the sandbox's quota.
const (
	SizeSmall  = "small"
	SizeMedium = "medium"
	SizeLarge  = "large"
)

// Sandbox kinds a chapter may ask for.
const (
	SandboxNamespace = "namespace"
	SandboxCluster   = "cluster"
)

// DefaultNodes is the node layout of a `sandbox: cluster` chapter that
// names none: a control plane and two workers, named as exam tasks name them.
var DefaultNodes = []string{"controlplane", "node01", "node02"}

// Chapter is one folder under labs/: chapter.yaml, one Markdown file per
// step, and tasks.yaml.
type Chapter struct {
	ID         string   // stable identifier used in URLs, e.g. "pods"
	Dir        string   // folder name, e.g. "01-pods"
	Title      string   // shown in the catalog
	Summary    string   // one or two sentences for the catalog
	Order      int      // position in the catalog
	Minutes    int      // estimated time to complete
	Size       string   // SizeSmall, SizeMedium or SizeLarge
	Sandbox    string   // SandboxNamespace or SandboxCluster
	Namespaces []string // extra namespaces, by logical name (e.g. "dev", "prod")
	// Nodes is a cluster chapter's node layout, the first node its control
	// plane; nil means DefaultNodes (and every namespace chapter).
	Nodes []string
	// Clusters names further clusters of the learner's own, beside the
	// primary one (whose kubeconfig context is named after the chapter):
	// each is a context of that name, for tasks that switch with `kubectl
	// config use-context`. Only in cluster chapters.
	Clusters []string
	Needs    []string // what the chapter needs beyond the API: "runtime", "cluster-admin"
	Steps    []*Step
	Tasks    []*Task
}

// Step is one Markdown lesson page.
type Step struct {
	ID       string // file name without ".md", e.g. "01-first-pod"
	Title    string // text of the first level-1 heading
	File     string // path relative to the loaded FS root, e.g. "02-pods/01-first-pod.md"
	Markdown []byte // source
}

// Task is one graded exercise.
type Task struct {
	ID        string
	Step      string // id of the step that introduces it
	Title     string
	Points    int      // default 1
	Challenge bool     // the chapter's unguided challenge
	Setup     string   // shell commands run with the learner's credentials before the learner starts
	Checks    []Check  // all must pass for the task to pass; points are shared for partial credit
	Hints     []string // Markdown, shown on demand
	Solution  string   // shell commands, run by `kubelab labs test` in the jailed shell

	File string // source position (tasks.yaml relative to the FS root), for reports
	Line int
}

// Match semantics of a check over the objects its resource selects.
const (
	MatchAll   = "all"   // at least one object selected, and expect holds for every one
	MatchAny   = "any"   // expect holds for at least one selected object
	MatchCount = "count" // the number of objects for which expect holds is within [Min, Max]
	MatchNone  = "none"  // expect holds for no selected object (none selected passes: "absent")
)

// Check is one graded condition, evaluated by the grader. It has exactly one
// source: Resource (API objects), Exec (a command in a learner's container)
// or Probe (a request from a short-lived Pod); Exec and Probe need real
// containers (a chapter with needs: [runtime]).
type Check struct {
	Resource Resource // the zero value when Exec or Probe is set
	Exec     *Exec
	Probe    *Probe
	Match    string // resource only: MatchAll (default), MatchAny, MatchCount or MatchNone
	Min, Max *int   // bounds for MatchCount; nil means unbounded
	// Expect is a CEL boolean over the source's variables (`object`; exec:
	// output, stdout, stderr, exitCode; probe http: status, body, error; probe
	// dns: addresses, error). Empty means: the object exists / exitCode == 0 /
	// status in 200..399 / at least one address.
	Expect  string
	Actual  string // optional CEL value shown as the actual side of the detail
	Message string // what the learner should achieve, shown when the check fails
	// Precondition marks a check that holds before the learner acts (say,
	// "the bare Pod is gone" before the learner made it): the task passes
	// only with it, but it scores nothing, so nobody gets credit for work
	// not done and partial credit does not drop when later tasks change it.
	Precondition bool
	// Cluster names the cluster the check reads, one of Chapter.Clusters;
	// empty means the primary one.
	Cluster string
	// With binds other objects (resource checks only) as CEL lists, for
	// checks across objects and answers checked against the truth.
	With []Binding
	// Within is how long the state may take to converge after the
	// learner's action; `labs test` waits that long for the check to
	// pass. Zero: the default wait.
	Within time.Duration

	File string // source position, for error messages
	Line int
}

// Resource selects the objects a check looks at, inside the learner's sandbox.
type Resource struct {
	APIVersion string // e.g. "apps/v1"
	Kind       string // e.g. "Deployment"
	Name       string // exactly this object; exclusive with Selector
	Selector   string // a label selector, e.g. "app=web"
	Namespace  string // logical name of one of Chapter.Namespaces; empty means the primary namespace
}

// Binding names the objects one variable of a check's CEL holds: a list
// of every object Resource selects (by name: none or one).
type Binding struct {
	Name     string // a CEL identifier, not "object"
	Resource Resource
}

// MaxWithin bounds a check's within.
const MaxWithin = 5 * time.Minute

// Limits of the exec and probe checks' timeouts.
const (
	DefaultExecTimeout  = 10 * time.Second
	DefaultProbeTimeout = 20 * time.Second
	MaxCheckTimeout     = 60 * time.Second
)

// Exec runs a command in a container of a learner's Pod (pods/exec with
// kubelab's credentials); its result is what the check's CEL sees.
type Exec struct {
	Pod       string   // exactly this Pod; exclusive with Selector
	Selector  string   // the first Running Pod matching, by name
	Namespace string   // logical name of one of Chapter.Namespaces; empty means the primary namespace
	Container string   // empty means the Pod's first container
	Command   []string // argv, no shell
	Timeout   time.Duration
}

// Probe asks the network a question from a short-lived Pod in the sandbox:
// an HTTP GET or a DNS lookup, as a learner's own Pod would see it.
type Probe struct {
	HTTP      string // GET this URL; exclusive with DNS
	DNS       string // resolve this name
	Namespace string // logical namespace the probe Pod runs in; empty means the primary namespace
	Timeout   time.Duration
}
