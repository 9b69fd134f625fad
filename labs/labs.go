// Package labs owns the training content: it loads chapters from a file
// system (the bundled ones are embedded), validates them strictly, and renders
// their Markdown steps to safe HTML. It knows nothing of HTTP, databases or
// Kubernetes clients; check expressions are compiled by the grader, which the
// loader calls through Options.CompileCheck.
package labs

import "errors"

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
	Needs      []string // what the chapter needs beyond the API: "runtime", "cluster-admin"
	Steps      []*Step
	Tasks      []*Task
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
)

// Check is one graded condition, evaluated by the grader.
type Check struct {
	Resource Resource
	Match    string // MatchAll (default), MatchAny or MatchCount
	Min, Max *int   // bounds for MatchCount; nil means unbounded
	Expect   string // CEL boolean over `object`; empty means "exists"
	Actual   string // optional CEL value shown as the actual side of the detail
	Message  string // what the learner should achieve, shown when the check fails
	// Precondition marks a check that holds before the learner acts (say,
	// "the bare Pod is gone" before the learner made it): the task passes
	// only with it, but it scores nothing, so nobody gets credit for work
	// not done and partial credit does not drop when later tasks change it.
	Precondition bool

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
