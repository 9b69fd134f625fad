package labs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/labels"
)

// Options configure Load.
type Options struct {
	// CompileCheck compiles one check's CEL expressions; the grader provides
	// it (labs must not import the grader). Its error becomes a problem at
	// the check's line. Nil skips compilation.
	CompileCheck func(Check) error
}

// Needs a chapter may declare.
const (
	NeedRuntime      = "runtime"       // containers must really run
	NeedClusterAdmin = "cluster-admin" // cluster-wide rights
)

var (
	// chapterDirPrefix marks a root entry as a chapter folder; the full
	// name must then match chapterDirName.
	chapterDirPrefix = regexp.MustCompile(`^[0-9][0-9]-`)
	chapterDirName   = regexp.MustCompile(`^([0-9][0-9])-([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$`)
	stepFileName     = regexp.MustCompile(`^[0-9][0-9]-[a-z0-9]([a-z0-9-]*[a-z0-9])?\.md$`)
	dnsLabel         = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	objectName       = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9:._-]*[A-Za-z0-9])?$`)
	apiVersionRE     = regexp.MustCompile(`^([a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$`)
	kindRE           = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
)

// imageTypes are the asset extensions served by Catalog.Asset, with their
// content types (a fixed table: the system MIME database varies by host).
var imageTypes = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".svg":  "image/svg+xml",
}

// Load reads every chapter folder (NN-slug) at the root of fsys, validates
// it strictly and returns the catalog. Other root entries are ignored. All
// problems found are returned at once as a *ValidationError; other errors
// mean fsys itself could not be read.
func Load(fsys fs.FS, opts Options) (*Catalog, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read labs root: %w", err)
	}
	l := &loader{fsys: fsys, opts: opts, md: newMarkdownParser()}
	var chapters []*Chapter
	for _, e := range entries {
		if !e.IsDir() || !chapterDirPrefix.MatchString(e.Name()) {
			continue
		}
		if ch := l.chapter(e.Name()); ch != nil {
			chapters = append(chapters, ch)
		}
	}
	if len(chapters) == 0 && len(l.ps.list) == 0 {
		l.ps.add(".", 0, "no chapter folders (NN-slug) found")
	}
	l.crossChapter(chapters)
	if err := l.ps.err(); err != nil {
		return nil, err
	}
	return newCatalog(fsys, chapters), nil
}

type loader struct {
	fsys fs.FS
	opts Options
	md   parser.Parser
	ps   problems
	// orderLine is the line of each chapter's explicit order, for duplicates.
	orderLine map[*Chapter]int
}

func newMarkdownParser() parser.Parser {
	return newMarkdown().Parser()
}

// chapter loads one folder; it returns nil if the folder name is invalid.
func (l *loader) chapter(dir string) *Chapter {
	m := chapterDirName.FindStringSubmatch(dir)
	if m == nil {
		l.ps.add(dir, 0, "chapter folder name must be NN-slug (slug: lowercase letters, digits and hyphens)")
		return nil
	}
	number, _ := strconv.Atoi(m[1])
	slug := m[2]
	ch := &Chapter{ID: slug, Dir: dir, Order: number, Size: SizeSmall, Sandbox: SandboxNamespace}
	l.chapterYAML(ch, slug)

	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		l.ps.add(dir, 0, "read folder: %v", err)
		return ch
	}
	l.symlinks(dir)
	hasTasks := false
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir(), name == "chapter.yaml", name == "README.md":
		case name == "tasks.yaml":
			hasTasks = true
		case stepFileName.MatchString(name):
			l.step(ch, name)
		case strings.HasSuffix(strings.ToLower(name), ".md"):
			l.ps.add(path.Join(dir, name), 0, "Markdown file is neither a step (NN-name.md) nor README.md")
		}
	}
	if len(ch.Steps) == 0 {
		l.ps.add(dir, 0, "chapter has no steps (NN-name.md files)")
	}
	if hasTasks {
		l.tasks(ch)
	} else {
		l.ps.add(dir, 0, "missing tasks.yaml")
	}
	return ch
}

// symlinks reports every symbolic link under a chapter folder. Assets are
// served without login, so a link (to a kubeconfig, to /etc/shadow, to the
// chapter's own tasks.yaml) would publish whatever it points at.
func (l *loader) symlinks(dir string) {
	err := fs.WalkDir(l.fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l.ps.add(name, 0, "symbolic links are not allowed in a chapter folder: copy the file in instead")
		}
		return nil
	})
	if err != nil {
		l.ps.add(dir, 0, "read folder: %v", err)
	}
}

func (l *loader) chapterYAML(ch *Chapter, slug string) {
	name := path.Join(ch.Dir, "chapter.yaml")
	data, err := fs.ReadFile(l.fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		l.ps.add(ch.Dir, 0, "missing chapter.yaml")
		return
	}
	if err != nil {
		l.ps.add(name, 0, "read: %v", err)
		return
	}
	f := yamlFile{name: name, ps: &l.ps}
	root := f.parse(data)
	if root == nil {
		return
	}
	kv := f.fields(root, "", "chapter.yaml", "id", "title", "summary", "order", "minutes", "size", "sandbox", "namespaces", "nodes", "clusters", "needs")
	id := f.str(kv["id"], "")
	switch {
	case kv["id"].key == nil:
		f.add(root, "id is required (the folder name without its number: %q)", slug)
	case id != slug:
		f.add(kv["id"].value, "id %q must equal the folder name without its number (%q)", id, slug)
	}
	ch.Title = strings.TrimSpace(f.str(kv["title"], ""))
	if ch.Title == "" {
		if fl := kv["title"]; fl.key != nil {
			f.add(fl.value, "title is empty")
		} else {
			f.add(root, "title is required")
		}
	}
	ch.Summary = strings.TrimSpace(f.str(kv["summary"], ""))
	if v, ok := f.integer(kv["order"], ""); ok {
		ch.Order = v
	}
	if l.orderLine == nil {
		l.orderLine = map[*Chapter]int{}
	}
	if fl := kv["order"]; fl.key != nil {
		l.orderLine[ch] = fl.value.Line
	}
	if v, ok := f.integer(kv["minutes"], ""); ok {
		if v < 0 {
			f.add(kv["minutes"].value, "minutes must be >= 0")
		}
		ch.Minutes = v
	}
	if fl := kv["size"]; fl.key != nil {
		ch.Size = f.str(fl, "")
		if !slices.Contains([]string{SizeSmall, SizeMedium, SizeLarge}, ch.Size) {
			f.add(fl.value, "size %q must be small, medium or large", ch.Size)
		}
	}
	if fl := kv["sandbox"]; fl.key != nil {
		ch.Sandbox = f.str(fl, "")
		if !slices.Contains([]string{SandboxNamespace, SandboxCluster}, ch.Sandbox) {
			f.add(fl.value, "sandbox %q must be namespace or cluster", ch.Sandbox)
		}
	}
	nss, nodes := f.strings(kv["namespaces"], "")
	for i, ns := range nss {
		switch {
		case !dnsLabel.MatchString(ns):
			f.add(nodes[i], "namespace %q must be a DNS-1123 label (lowercase letters, digits, hyphens)", ns)
		case slices.Contains(ch.Namespaces, ns):
			f.add(nodes[i], "namespace %q is listed twice", ns)
		default:
			ch.Namespaces = append(ch.Namespaces, ns)
		}
	}
	if ch.Sandbox == SandboxCluster && len(ch.Namespaces) > 0 {
		f.add(kv["namespaces"].value, "a cluster sandbox has every namespace its learner makes: list none here, and create the ones the lab needs in a task's setup")
	}
	l.nodes(ch, f, kv["nodes"])
	l.clusters(ch, f, kv["clusters"])
	needs, nodes := f.strings(kv["needs"], "")
	for i, need := range needs {
		switch {
		case need != NeedRuntime && need != NeedClusterAdmin:
			f.add(nodes[i], "need %q must be runtime or cluster-admin", need)
		case slices.Contains(ch.Needs, need):
			f.add(nodes[i], "need %q is listed twice", need)
		default:
			ch.Needs = append(ch.Needs, need)
		}
	}
}

// maxNodes bounds a cluster chapter's node layout.
const maxNodes = 10

// nodes validates a cluster chapter's node layout.
func (l *loader) nodes(ch *Chapter, f yamlFile, fl field) {
	layout, n, ok := clusterOnlyNames(ch, f, fl, "node", "nodes: only a chapter with sandbox: cluster has nodes of its own", nil)
	switch {
	case !ok:
	case n == 0:
		f.add(fl.value, "nodes is empty: list the nodes, the control plane first (or omit it for %s)", strings.Join(DefaultNodes, ", "))
	case n > maxNodes:
		f.add(fl.value, "%d nodes: a cluster chapter may have at most %d", n, maxNodes)
	case !slices.Equal(layout, DefaultNodes):
		ch.Nodes = layout
	}
}

// maxClusters bounds how many further clusters a chapter may ask for:
// each is a process of its own.
const maxClusters = 3

// clusters validates a cluster chapter's further clusters.
func (l *loader) clusters(ch *Chapter, f yamlFile, fl field) {
	names, n, ok := clusterOnlyNames(ch, f, fl, "cluster", "clusters: only a chapter with sandbox: cluster can have further clusters",
		func(name string) string {
			if name == ch.ID {
				return fmt.Sprintf("cluster %q: the primary cluster's context already has the chapter's id as its name", name)
			}
			return ""
		})
	switch {
	case !ok:
	case n == 0:
		f.add(fl.value, "clusters is empty: name the further clusters, or omit it for one cluster")
	case n > maxClusters:
		f.add(fl.value, "%d further clusters: a chapter may have at most %d", n, maxClusters)
	default:
		ch.Clusters = names
	}
}

// clusterOnlyNames reads a list of names (what: "node", "cluster") that
// only a cluster chapter may have: each a DNS-1123 label, none twice, none
// that refuse (if set) has a reason against. It returns the valid names,
// how many were listed, and false if the field is absent or misplaced.
func clusterOnlyNames(ch *Chapter, f yamlFile, fl field, what, misplaced string, refuse func(string) string) ([]string, int, bool) {
	if fl.key == nil {
		return nil, 0, false
	}
	if ch.Sandbox != SandboxCluster {
		f.add(fl.key, "%s", misplaced)
		return nil, 0, false
	}
	raw, nodes := f.strings(fl, "")
	var names []string
	for i, n := range raw {
		why := ""
		if refuse != nil {
			why = refuse(n)
		}
		switch {
		case !dnsLabel.MatchString(n):
			f.add(nodes[i], "%s %q must be a DNS-1123 label (lowercase letters, digits, hyphens)", what, n)
		case why != "":
			f.add(nodes[i], "%s", why)
		case slices.Contains(names, n):
			f.add(nodes[i], "%s %q is listed twice", what, n)
		default:
			names = append(names, n)
		}
	}
	return names, len(raw), true
}

// step reads and validates one Markdown step: it needs a level-1 heading,
// valid admonitions and run blocks, and images that exist in the folder.
func (l *loader) step(ch *Chapter, file string) {
	name := path.Join(ch.Dir, file)
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		l.ps.add(name, 0, "read: %v", err)
		return
	}
	st := &Step{ID: strings.TrimSuffix(file, ".md"), File: name, Markdown: data}
	lc := l.checkMarkdown(ch, name, data, &l.ps)
	st.Title = lc.title
	switch {
	case !lc.hasTitle:
		l.ps.add(name, 1, "step has no level-1 heading (# Title)")
	case lc.title == "":
		l.ps.add(name, 1, "step title (first level-1 heading) is empty")
	}
	ch.Steps = append(ch.Steps, st)
}

// checkMarkdown parses Markdown for validation, recording problems against
// file; it returns the context the transformer filled.
func (l *loader) checkMarkdown(ch *Chapter, file string, data []byte, ps *problems) *lessonContext {
	lc := &lessonContext{
		chapterID: ch.ID,
		file:      file,
		problems:  ps,
		imageExists: func(name string) bool {
			if _, ok := imageTypes[strings.ToLower(path.Ext(name))]; !ok {
				return false
			}
			info, err := fs.Stat(l.fsys, path.Join(ch.Dir, name))
			return err == nil && !info.IsDir()
		},
	}
	pc := parser.NewContext()
	pc.Set(lessonKey, lc)
	l.md.Parse(text.NewReader(data), parser.WithContext(pc))
	return lc
}

func (l *loader) tasks(ch *Chapter) {
	name := path.Join(ch.Dir, "tasks.yaml")
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		l.ps.add(name, 0, "read: %v", err)
		return
	}
	f := yamlFile{name: name, ps: &l.ps}
	root := f.parse(data)
	if root == nil {
		return
	}
	top := f.fields(root, "", "tasks.yaml", "tasks")
	list := top["tasks"].value
	switch {
	case list == nil || isNull(list):
		f.add(root, "tasks: at least one task is required")
		return
	case list.Kind != yaml.SequenceNode:
		f.add(list, "tasks must be a list")
		return
	case len(list.Content) == 0:
		f.add(list, "tasks: at least one task is required")
		return
	}
	seen := map[string]int{}
	for i, n := range list.Content {
		t := l.task(ch, f, resolve(n), i+1)
		if t == nil {
			continue
		}
		if t.ID != "" {
			if first, dup := seen[t.ID]; dup {
				f.add(n, "task id %q already used on line %d", t.ID, first)
			} else {
				seen[t.ID] = n.Line
			}
		}
		ch.Tasks = append(ch.Tasks, t)
	}
}

func (l *loader) task(ch *Chapter, f yamlFile, n *yaml.Node, index int) *Task {
	if n.Kind != yaml.MappingNode {
		f.add(n, "task %d must be a mapping", index)
		return nil
	}
	t := &Task{Points: 1, File: f.name, Line: n.Line}
	// The id comes first so every other message can name the task.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" && resolve(n.Content[i+1]).Kind == yaml.ScalarNode {
			t.ID = resolve(n.Content[i+1]).Value
			break
		}
	}
	where := fmt.Sprintf("task %d: ", index)
	if t.ID != "" {
		where = fmt.Sprintf("task %q: ", t.ID)
	}
	kv := f.fields(n, where, "task", "id", "step", "title", "points", "challenge", "setup", "checks", "hints", "solution")
	switch {
	case kv["id"].key == nil:
		f.add(n, "%sid is required", where)
	case !dnsLabel.MatchString(t.ID):
		f.add(kv["id"].value, "%sid must be lowercase letters, digits and hyphens", where)
	}
	t.Step = f.str(kv["step"], where)
	switch {
	case kv["step"].key == nil:
		f.add(n, "%sstep is required", where)
	case !slices.ContainsFunc(ch.Steps, func(s *Step) bool { return s.ID == t.Step }):
		f.add(kv["step"].value, "task %q names missing step %q", t.ID, t.Step)
	}
	t.Title = strings.TrimSpace(f.str(kv["title"], where))
	if t.Title == "" {
		f.add(n, "%stitle is required", where)
	}
	if v, ok := f.integer(kv["points"], where); ok {
		if v < 1 {
			f.add(kv["points"].value, "%spoints must be >= 1", where)
		}
		t.Points = v
	}
	t.Challenge = f.boolean(kv["challenge"], where)
	t.Setup = f.str(kv["setup"], where)
	t.Solution = f.str(kv["solution"], where)
	if strings.TrimSpace(t.Solution) == "" {
		if fl := kv["solution"]; fl.key != nil {
			f.add(fl.value, "%ssolution is empty", where)
		} else {
			f.add(n, "%ssolution is required", where)
		}
	}
	hints, nodes := f.strings(kv["hints"], where)
	for i, h := range hints {
		if strings.TrimSpace(h) == "" {
			f.add(nodes[i], "%shint %d is empty", where, i+1)
			continue
		}
		l.checkHint(ch, f, nodes[i], where, i+1, h)
		t.Hints = append(t.Hints, h)
	}

	checks := kv["checks"].value
	switch {
	case checks == nil || isNull(checks):
		f.add(n, "%sat least one check is required", where)
	case checks.Kind != yaml.SequenceNode:
		f.add(checks, "%schecks must be a list", where)
	case len(checks.Content) == 0:
		f.add(checks, "%sat least one check is required", where)
	default:
		goals := 0
		for i, cn := range checks.Content {
			c, ok := l.check(ch, f, resolve(cn), fmt.Sprintf("%scheck %d: ", strings.TrimSuffix(where, ": ")+" ", i+1))
			if ok {
				t.Checks = append(t.Checks, c)
			}
			if !c.Precondition {
				goals++
			}
		}
		if goals == 0 {
			f.add(checks, "%severy check is a precondition: at least one check must measure what the learner does", where)
		}
	}
	return t
}

// checkHint validates a hint's Markdown; its problems point at the hint's line.
func (l *loader) checkHint(ch *Chapter, f yamlFile, n *yaml.Node, where string, index int, hint string) {
	var sink problems
	l.checkMarkdown(ch, f.name, []byte(hint), &sink)
	for _, p := range sink.list {
		f.add(n, "%shint %d: %s", where, index, p.Message)
	}
}

// check validates one check; ok is false if it is too broken to compile.
func (l *loader) check(ch *Chapter, f yamlFile, n *yaml.Node, where string) (Check, bool) {
	c := Check{File: f.name, Line: n.Line}
	kv := f.fields(n, where, "check", "resource", "exec", "probe", "match", "min", "max", "expect", "actual", "message", "precondition", "cluster", "with", "within")
	if n.Kind != yaml.MappingNode {
		return c, false
	}
	before := len(l.ps.list)
	var sources []string
	for _, s := range []string{"resource", "exec", "probe"} {
		if kv[s].key != nil {
			sources = append(sources, s)
		}
	}
	switch len(sources) {
	case 0:
		f.add(n, "%sresource, exec or probe is required", where)
	case 1:
	default:
		f.add(kv[sources[1]].key, "%s%s and %s are exclusive: a check has one source", where, sources[0], sources[1])
	}
	if fl := kv["resource"]; fl.key != nil {
		l.resource(ch, f, fl, &c.Resource, where)
	}
	for _, src := range []string{"exec", "probe"} {
		fl := kv[src]
		if fl.key == nil {
			continue
		}
		if !slices.Contains(ch.Needs, NeedRuntime) {
			f.add(fl.key, "%s%s checks need real containers: add needs: [runtime] to chapter.yaml", where, src)
		}
		if src == "exec" {
			c.Exec = l.exec(ch, f, fl, where)
		} else {
			c.Probe = l.probe(ch, f, fl, where)
		}
	}
	if kv["resource"].key != nil || len(sources) == 0 {
		l.match(f, n, kv, &c, where)
		c.With = l.with(ch, f, kv["with"], where)
	} else {
		for _, name := range []string{"match", "min", "max", "with"} {
			if fl := kv[name]; fl.key != nil {
				f.add(fl.key, "%s%s applies only to resource checks", where, name)
			}
		}
	}
	c.Expect = f.str(kv["expect"], where)
	c.Actual = f.str(kv["actual"], where)
	c.Message = strings.TrimSpace(f.str(kv["message"], where))
	c.Precondition = f.boolean(kv["precondition"], where)
	if fl := kv["within"]; fl.key != nil {
		c.Within = l.within(f, fl, where)
	}
	if fl := kv["cluster"]; fl.key != nil {
		c.Cluster = f.str(fl, where)
		if !slices.Contains(ch.Clusters, c.Cluster) {
			f.add(fl.value, "%scluster %q is not declared in chapter.yaml clusters (omit cluster: for the primary cluster)", where, c.Cluster)
		}
	}
	if len(l.ps.list) > before {
		return c, false
	}
	if l.opts.CompileCheck != nil {
		if err := l.opts.CompileCheck(c); err != nil {
			f.add(n, "%s%s", where, oneLine(err.Error()))
			return c, false
		}
	}
	return c, true
}

// match validates how a resource check counts the objects it selects.
func (l *loader) match(f yamlFile, n *yaml.Node, kv map[string]field, c *Check, where string) {
	c.Match = MatchAll
	if fl := kv["match"]; fl.key != nil {
		c.Match = f.str(fl, where)
		if !slices.Contains([]string{MatchAll, MatchAny, MatchCount, MatchNone}, c.Match) {
			f.add(fl.value, "%smatch %q must be all, any, count or none", where, c.Match)
		}
	}
	for _, bound := range []struct {
		name string
		dst  **int
	}{{"min", &c.Min}, {"max", &c.Max}} {
		fl := kv[bound.name]
		if fl.key == nil {
			continue
		}
		if c.Match != MatchCount {
			f.add(fl.key, "%s%s is only allowed with match: count", where, bound.name)
			continue
		}
		if v, ok := f.integer(fl, where); ok {
			if v < 0 {
				f.add(fl.value, "%s%s must be >= 0", where, bound.name)
			}
			*bound.dst = &v
		}
	}
	if c.Match == MatchCount {
		switch {
		case kv["min"].key == nil && kv["max"].key == nil:
			f.add(n, "%smatch count needs min or max", where)
		case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
			f.add(kv["max"].value, "%smin %d is greater than max %d", where, *c.Min, *c.Max)
		}
	}
}

// celIdent is a name a with binding may take.
var celIdent = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// celReserved are CEL's reserved words and the names a check's CEL
// already has.
var celReserved = []string{"object", "true", "false", "null", "in", "as", "break", "const", "continue", "else",
	"for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
	"has", "dyn", "int", "uint", "double", "bool", "string", "bytes", "list", "map", "type", "base64", "math",
	"sets", "strings", "optional"}

// with validates a check's bindings: name → resource, each a list of
// objects in the check's CEL.
func (l *loader) with(ch *Chapter, f yamlFile, fl field, where string) []Binding {
	if fl.key == nil {
		return nil
	}
	if fl.value.Kind != yaml.MappingNode || len(fl.value.Content) == 0 {
		f.add(fl.key, "%swith must map names to resources, e.g. with: {pods: {apiVersion: v1, kind: Pod, selector: app=web}}", where)
		return nil
	}
	var out []Binding
	for i := 0; i+1 < len(fl.value.Content); i += 2 {
		k, v := fl.value.Content[i], fl.value.Content[i+1]
		b := Binding{Name: k.Value}
		switch {
		case !celIdent.MatchString(b.Name):
			f.add(k, "%swith name %q must be a lowercase identifier such as pods or nodes", where, b.Name)
		case slices.Contains(celReserved, b.Name):
			f.add(k, "%swith name %q is taken in CEL: choose another", where, b.Name)
		}
		l.resource(ch, f, field{key: k, value: v}, &b.Resource, fmt.Sprintf("%swith %s: ", where, b.Name))
		out = append(out, b)
	}
	return out
}

// within parses a check's convergence bound, in (0, MaxWithin].
func (l *loader) within(f yamlFile, fl field, where string) time.Duration {
	s := f.str(fl, where)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		f.add(fl.value, "%swithin %q must be a duration such as 30s", where, s)
	case d <= 0:
		f.add(fl.value, "%swithin %q must be positive", where, s)
	case d > MaxWithin:
		f.add(fl.value, "%swithin %q is longer than the maximum %s", where, s, MaxWithin)
	}
	return d
}

// resource validates a check's resource: which objects it selects.
func (l *loader) resource(ch *Chapter, f yamlFile, fl field, r *Resource, where string) {
	res := fl.value
	if isNull(res) {
		f.add(fl.key, "%sresource is empty", where)
		return
	}
	rfs := f.fields(res, where, "resource", "apiVersion", "kind", "name", "selector", "namespace")
	r.APIVersion = f.str(rfs["apiVersion"], where)
	r.Kind = f.str(rfs["kind"], where)
	r.Name = f.str(rfs["name"], where)
	r.Selector = f.str(rfs["selector"], where)
	r.Namespace = f.str(rfs["namespace"], where)
	switch {
	case r.APIVersion == "":
		f.add(res, "%sresource apiVersion is required", where)
	case !apiVersionRE.MatchString(r.APIVersion):
		f.add(rfs["apiVersion"].value, "%sresource apiVersion %q must look like v1 or apps/v1", where, r.APIVersion)
	}
	switch {
	case r.Kind == "":
		f.add(res, "%sresource kind is required", where)
	case !kindRE.MatchString(r.Kind):
		f.add(rfs["kind"].value, "%sresource kind %q must be a Kind such as Pod or Deployment", where, r.Kind)
	}
	switch {
	case rfs["name"].key != nil && rfs["selector"].key != nil:
		f.add(rfs["selector"].key, "%sname and selector are exclusive", where)
	case rfs["name"].key != nil && !objectName.MatchString(r.Name):
		f.add(rfs["name"].value, "%sresource name %q is not a valid object name", where, r.Name)
	case rfs["selector"].key != nil:
		l.selector(f, rfs["selector"], r.Selector, r.Kind, where)
	}
	if clusterScoped(r.APIVersion, r.Kind) {
		switch {
		case ch.Sandbox != SandboxCluster:
			f.add(rfs["kind"].value, "%s%s is cluster-scoped: a namespace sandbox cannot see it (a learner there has no rights on it); give the chapter sandbox: cluster", where, r.Kind)
		case rfs["namespace"].key != nil:
			f.add(rfs["namespace"].key, "%s%s is cluster-scoped: omit namespace", where, r.Kind)
		}
		return
	}
	l.namespace(ch, f, rfs["namespace"], r.Namespace, where)
}

// clusterScoped knows the built-in kinds that live outside namespaces.
// (A custom resource's scope is known only to its cluster: the grader
// reports it there.)
func clusterScoped(apiVersion, kind string) bool {
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	switch group + "/" + kind {
	case "/Namespace", "/Node", "/PersistentVolume", "/ComponentStatus",
		"rbac.authorization.k8s.io/ClusterRole", "rbac.authorization.k8s.io/ClusterRoleBinding",
		"storage.k8s.io/StorageClass", "storage.k8s.io/CSIDriver", "storage.k8s.io/CSINode", "storage.k8s.io/VolumeAttachment",
		"scheduling.k8s.io/PriorityClass", "node.k8s.io/RuntimeClass", "networking.k8s.io/IngressClass",
		"apiextensions.k8s.io/CustomResourceDefinition", "apiregistration.k8s.io/APIService",
		"admissionregistration.k8s.io/ValidatingWebhookConfiguration", "admissionregistration.k8s.io/MutatingWebhookConfiguration",
		"admissionregistration.k8s.io/ValidatingAdmissionPolicy", "admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
		"certificates.k8s.io/CertificateSigningRequest", "flowcontrol.apiserver.k8s.io/FlowSchema",
		"flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration":
		return true
	}
	return false
}

// selector validates a label selector.
func (l *loader) selector(f yamlFile, fl field, sel, kind, where string) {
	if strings.TrimSpace(sel) == "" {
		f.add(fl.value, "%sselector is empty (omit it to select every %s)", where, kind)
	} else if _, err := labels.Parse(sel); err != nil {
		f.add(fl.value, "%sinvalid selector %q: %v", where, sel, err)
	}
}

// namespace validates a logical namespace, when one is given; in a
// cluster sandbox it is a real namespace name.
func (l *loader) namespace(ch *Chapter, f yamlFile, fl field, ns, where string) {
	if fl.key != nil && ch.Sandbox == SandboxCluster {
		if !dnsLabel.MatchString(ns) {
			f.add(fl.value, "%snamespace %q must be a DNS-1123 label", where, ns)
		}
		return
	}
	if fl.key != nil && !slices.Contains(ch.Namespaces, ns) {
		f.add(fl.value, "%snamespace %q is not declared in chapter.yaml namespaces", where, ns)
	}
}

// exec validates a check's exec: which container runs which command.
func (l *loader) exec(ch *Chapter, f yamlFile, fl field, where string) *Exec {
	if isNull(fl.value) {
		f.add(fl.key, "%sexec is empty", where)
		return nil
	}
	efs := f.fields(fl.value, where, "exec", "pod", "selector", "namespace", "container", "command", "timeout")
	e := &Exec{
		Pod:       f.str(efs["pod"], where),
		Selector:  f.str(efs["selector"], where),
		Namespace: f.str(efs["namespace"], where),
		Container: f.str(efs["container"], where),
	}
	switch {
	case efs["pod"].key != nil && efs["selector"].key != nil:
		f.add(efs["selector"].key, "%spod and selector are exclusive", where)
	case efs["pod"].key == nil && efs["selector"].key == nil:
		f.add(fl.value, "%sexec needs pod or selector", where)
	case efs["pod"].key != nil && !objectName.MatchString(e.Pod):
		f.add(efs["pod"].value, "%sexec pod %q is not a valid Pod name", where, e.Pod)
	case efs["selector"].key != nil:
		l.selector(f, efs["selector"], e.Selector, "Pod", where)
	}
	l.namespace(ch, f, efs["namespace"], e.Namespace, where)
	if efs["container"].key != nil && !dnsLabel.MatchString(e.Container) {
		f.add(efs["container"].value, "%sexec container %q is not a valid container name", where, e.Container)
	}
	switch cmd := efs["command"]; {
	case cmd.key == nil:
		f.add(fl.value, "%sexec command is required", where)
	case cmd.value.Kind == yaml.ScalarNode && !isNull(cmd.value):
		f.add(cmd.value, "%sexec command must be a list (argv), such as [cat, /etc/hostname]; for a shell write [sh, -c, \"...\"]", where)
	default:
		e.Command, _ = f.strings(cmd, where)
		if len(e.Command) == 0 || e.Command[0] == "" {
			f.add(cmd.value, "%sexec command is empty", where)
		}
	}
	e.Timeout = l.timeout(f, efs["timeout"], where, "exec", DefaultExecTimeout)
	return e
}

// dnsName is a host name a probe may resolve.
var dnsName = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$`)

// probe validates a check's probe: one HTTP GET or one DNS lookup.
func (l *loader) probe(ch *Chapter, f yamlFile, fl field, where string) *Probe {
	if isNull(fl.value) {
		f.add(fl.key, "%sprobe is empty", where)
		return nil
	}
	pfs := f.fields(fl.value, where, "probe", "http", "dns", "namespace", "timeout")
	p := &Probe{
		HTTP:      f.str(pfs["http"], where),
		DNS:       f.str(pfs["dns"], where),
		Namespace: f.str(pfs["namespace"], where),
	}
	switch {
	case pfs["http"].key != nil && pfs["dns"].key != nil:
		f.add(pfs["dns"].key, "%shttp and dns are exclusive", where)
	case pfs["http"].key == nil && pfs["dns"].key == nil:
		f.add(fl.value, "%sprobe needs http or dns", where)
	case pfs["http"].key != nil:
		if u, err := url.Parse(p.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			f.add(pfs["http"].value, "%sprobe http %q must be an http:// or https:// URL", where, p.HTTP)
		}
	case len(p.DNS) > 253 || !dnsName.MatchString(p.DNS):
		f.add(pfs["dns"].value, "%sprobe dns %q must be a DNS name such as web.dev.svc.cluster.local", where, p.DNS)
	}
	l.namespace(ch, f, pfs["namespace"], p.Namespace, where)
	p.Timeout = l.timeout(f, pfs["timeout"], where, "probe", DefaultProbeTimeout)
	return p
}

// timeout parses an optional duration in (0, MaxCheckTimeout]; def when absent.
func (l *loader) timeout(f yamlFile, fl field, where, what string, def time.Duration) time.Duration {
	if fl.key == nil {
		return def
	}
	s := f.str(fl, where)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		f.add(fl.value, "%s%s timeout %q must be a duration such as 10s", where, what, s)
	case d <= 0:
		f.add(fl.value, "%s%s timeout %q must be positive", where, what, s)
	case d > MaxCheckTimeout:
		f.add(fl.value, "%s%s timeout %q is longer than the maximum %ds", where, what, s, int(MaxCheckTimeout.Seconds()))
	default:
		return d
	}
	return def
}

// crossChapter reports duplicate ids and orders across chapters.
func (l *loader) crossChapter(chapters []*Chapter) {
	ids := map[string]*Chapter{}
	orders := map[int]*Chapter{}
	for _, ch := range chapters {
		if first, dup := ids[ch.ID]; dup {
			l.ps.add(path.Join(ch.Dir, "chapter.yaml"), 0, "chapter id %q already used by %s", ch.ID, first.Dir)
		} else {
			ids[ch.ID] = ch
		}
		if first, dup := orders[ch.Order]; dup {
			l.ps.add(path.Join(ch.Dir, "chapter.yaml"), l.orderLine[ch], "order %d already used by %s", ch.Order, first.Dir)
		} else {
			orders[ch.Order] = ch
		}
	}
	slices.SortStableFunc(chapters, func(a, b *Chapter) int { return a.Order - b.Order })
}

// oneLine flattens a multi-line compiler message (CEL echoes the source and a
// caret on extra lines) so each problem stays on one line.
func oneLine(msg string) string {
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "|") {
			continue
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}
