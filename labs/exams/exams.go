// Package exams loads timed practice exams (CKAD/CKA style) and draws an
// attempt's tasks from an exam's bank.
//
// An exam is a folder NN-slug beside this file: exam.yaml (title,
// duration, pass mark, domains with weights, how many tasks to draw, the
// namespaces tasks work in) and bank.yaml (the task bank). A bank task is a
// chapter task (labs/README.md: setup, checks, solution) with a domain, a
// weight, the namespace it is done in, the Markdown text the candidate
// reads, and params: names, images, ports… each drawn per attempt from a
// list. The task's text, setup, checks and solution are Go templates over
// the drawn params ({{.name}}), so the checks follow the draw.
//
// A draw becomes an ordinary chapter (Draw.Chapter): one step per task, the
// rendered tasks as its tasks.yaml, loaded by package labs with all of its
// validation, and graded by package grader like any chapter.
package exams

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing/fstest"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/kubelab/kubelab/labs"
)

// Exam is one exam and its task bank.
type Exam struct {
	ID         string
	Dir        string
	Title      string
	Summary    string
	Minutes    int      // the attempt's duration
	PassMark   int      // percent of the drawn tasks' weights
	Draw       int      // tasks per attempt
	Size       string   // the sandbox's size class
	Sandbox    string   // labs.SandboxNamespace (default) or labs.SandboxCluster (CKA style: a cluster of one's own)
	Nodes      []string // a cluster exam's nodes, as a chapter's
	Clusters   []string // a cluster exam's further clusters (kubeconfig contexts), as a chapter's
	Namespaces []string // extra namespaces tasks work in, by logical name
	Domains    []Domain
	Bank       []*BankTask
}

// Domain is one curriculum domain; its weight is the percent of an
// attempt's tasks drawn from it.
type Domain struct {
	ID     string `yaml:"id"`
	Title  string `yaml:"title"`
	Weight int    `yaml:"weight"`
}

// BankTask is one task of the bank, before its params are drawn.
type BankTask struct {
	ID        string
	Domain    string
	Weight    int    // points
	Namespace string // the namespace it is done in: logical (one of Exam.Namespaces), or in a cluster exam a real name; "" the primary one
	Title     string // a template, like Text
	Text      string // Markdown template: what the candidate reads
	Params    []Param
	Line      int
	body      *yaml.Node // the chapter-task fields: setup, checks, solution (templates)
}

// Param is one templated value and the values a draw picks from.
type Param struct {
	Name   string
	Values []string
}

type examYAML struct {
	ID         string   `yaml:"id"`
	Title      string   `yaml:"title"`
	Summary    string   `yaml:"summary"`
	Minutes    int      `yaml:"minutes"`
	PassMark   int      `yaml:"pass_mark"`
	Draw       int      `yaml:"draw"`
	Size       string   `yaml:"size"`
	Sandbox    string   `yaml:"sandbox"`
	Nodes      []string `yaml:"nodes"`
	Clusters   []string `yaml:"clusters"`
	Namespaces []string `yaml:"namespaces"`
	Domains    []Domain `yaml:"domains"`
}

var (
	examDir  = regexp.MustCompile(`^[0-9]{2}-[a-z0-9-]+$`)
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$`)
	param    = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)
)

// ValidationError lists every problem found in the exams, one per line.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%d problems in the exams:\n%s", len(e.Problems), strings.Join(e.Problems, "\n"))
}

// Load reads every exam folder (NN-slug) at the root of fsys. Each bank
// task is rendered with several draws of its params and loaded as a
// chapter task, so a template or a check that a draw would break is a
// problem here, with the task and the values that broke it.
func Load(fsys fs.FS, opts labs.Options) ([]*Exam, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read exams root: %w", err)
	}
	var exams []*Exam
	var problems []string
	for _, e := range entries {
		if !e.IsDir() || !examDir.MatchString(e.Name()) {
			continue
		}
		ex, ps := load(fsys, e.Name(), opts)
		problems = append(problems, ps...)
		if ex != nil {
			exams = append(exams, ex)
		}
	}
	seen := map[string]string{}
	for _, ex := range exams {
		if other, dup := seen[ex.ID]; dup {
			problems = append(problems, fmt.Sprintf("%s/exam.yaml: id %q already used by %s", ex.Dir, ex.ID, other))
		}
		seen[ex.ID] = ex.Dir
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return exams, nil
}

func load(fsys fs.FS, dir string, opts labs.Options) (*Exam, []string) {
	var ps []string
	add := func(file string, line int, format string, args ...any) {
		where := path.Join(dir, file)
		if line > 0 {
			where = fmt.Sprintf("%s:%d", where, line)
		}
		ps = append(ps, where+": "+fmt.Sprintf(format, args...))
	}
	data, err := fs.ReadFile(fsys, path.Join(dir, "exam.yaml"))
	if err != nil {
		add("exam.yaml", 0, "read: %v", err)
		return nil, ps
	}
	var y examYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&y); err != nil {
		add("exam.yaml", 0, "%v", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, ps
	}
	ex := &Exam{ID: y.ID, Dir: dir, Title: strings.TrimSpace(y.Title), Summary: strings.TrimSpace(y.Summary),
		Minutes: y.Minutes, PassMark: y.PassMark, Draw: y.Draw, Size: cmp.Or(y.Size, labs.SizeLarge),
		Sandbox: cmp.Or(y.Sandbox, labs.SandboxNamespace), Nodes: y.Nodes, Clusters: y.Clusters,
		Namespaces: y.Namespaces, Domains: y.Domains}
	switch {
	case !dnsLabel.MatchString(ex.ID):
		add("exam.yaml", 0, "id %q: lowercase letters, digits and hyphens", ex.ID)
	case ex.Title == "":
		add("exam.yaml", 0, "title is required")
	case ex.Minutes < 5 || ex.Minutes > 480:
		add("exam.yaml", 0, "minutes must be 5 to 480, not %d", ex.Minutes)
	case ex.PassMark < 1 || ex.PassMark > 100:
		add("exam.yaml", 0, "pass_mark is a percent, 1 to 100, not %d", ex.PassMark)
	case ex.Draw < 1:
		add("exam.yaml", 0, "draw: at least one task per attempt")
	}
	total := 0
	domains := map[string]bool{}
	for _, d := range ex.Domains {
		if !dnsLabel.MatchString(d.ID) || d.Title == "" || d.Weight < 1 {
			add("exam.yaml", 0, "domain %q needs an id (lowercase, digits, hyphens), a title and a weight >= 1", d.ID)
		}
		domains[d.ID] = true
		total += d.Weight
	}
	if total != 100 {
		add("exam.yaml", 0, "the domains' weights add up to %d, want 100", total)
	}
	for _, ns := range ex.Namespaces {
		if !dnsLabel.MatchString(ns) {
			add("exam.yaml", 0, "namespace %q: lowercase letters, digits and hyphens", ns)
		}
	}

	bank, err := fs.ReadFile(fsys, path.Join(dir, "bank.yaml"))
	if err != nil {
		add("bank.yaml", 0, "read: %v", err)
		return nil, ps
	}
	ex.Bank = parseBank(bank, ex, domains, add)
	if len(ps) > 0 {
		return nil, ps
	}
	byDomain := map[string]int{}
	for _, t := range ex.Bank {
		byDomain[t.Domain]++
	}
	if len(ex.Bank) < ex.Draw {
		add("bank.yaml", 0, "%d tasks in the bank, fewer than the %d an attempt draws", len(ex.Bank), ex.Draw)
	}
	for _, d := range ex.Domains {
		if byDomain[d.ID] == 0 {
			add("bank.yaml", 0, "domain %s has no task", d.ID)
		}
	}
	// Every task with its first values, then draws with other values.
	for _, t := range ex.Bank {
		for _, values := range validationDraws(t) {
			d := Draw{Exam: ex, Tasks: []DrawnTask{{Task: t, Params: values}}}
			if _, err := d.Chapter(opts); err != nil {
				add("bank.yaml", t.Line, "task %q with %v: %v", t.ID, values, err)
				break
			}
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return ex, nil
}

// validationDraws are the param values a bank task is proven with: the
// first of each, the last of each, and every value of each param once.
func validationDraws(t *BankTask) []map[string]string {
	first, last := map[string]string{}, map[string]string{}
	for _, p := range t.Params {
		first[p.Name], last[p.Name] = p.Values[0], p.Values[len(p.Values)-1]
	}
	out := []map[string]string{first, last}
	for _, p := range t.Params {
		for _, v := range p.Values[1:] {
			m := map[string]string{}
			for k, x := range first {
				m[k] = x
			}
			m[p.Name] = v
			out = append(out, m)
		}
	}
	return out
}

func parseBank(data []byte, ex *Exam, domains map[string]bool, add func(string, int, string, ...any)) []*BankTask {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		add("bank.yaml", 0, "invalid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		add("bank.yaml", 0, "want a mapping with tasks:")
		return nil
	}
	root := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tasks" {
			list = root.Content[i+1]
		} else {
			add("bank.yaml", root.Content[i].Line, "unknown field %q", root.Content[i].Value)
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		add("bank.yaml", 0, "tasks: a list of at least one task is required")
		return nil
	}
	var bank []*BankTask
	seen := map[string]int{}
	for _, n := range list.Content {
		if n.Kind != yaml.MappingNode {
			add("bank.yaml", n.Line, "a task must be a mapping")
			continue
		}
		t := &BankTask{Line: n.Line, Weight: 1, body: &yaml.Node{Kind: yaml.MappingNode}}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "id":
				t.ID = v.Value
				t.body.Content = append(t.body.Content, k, v)
			case "title":
				t.Title = v.Value
			case "domain":
				t.Domain = v.Value
			case "weight":
				if err := v.Decode(&t.Weight); err != nil || t.Weight < 1 {
					add("bank.yaml", v.Line, "task %q: weight must be a whole number >= 1", t.ID)
				}
			case "namespace":
				t.Namespace = v.Value
			case "text":
				t.Text = v.Value
			case "params":
				t.Params = parseParams(v, t, add)
			case "step", "points", "challenge", "hints":
				add("bank.yaml", k.Line, "task %q: %s is not for exam tasks (the draw sets step and points; exams give no hints)", t.ID, k.Value)
			default:
				t.body.Content = append(t.body.Content, k, v)
			}
		}
		where := fmt.Sprintf("task %q", t.ID)
		switch {
		case !dnsLabel.MatchString(t.ID):
			add("bank.yaml", n.Line, "%s: id must be lowercase letters, digits and hyphens", where)
		case seen[t.ID] > 0:
			add("bank.yaml", n.Line, "%s: id already used on line %d", where, seen[t.ID])
		case !domains[t.Domain]:
			add("bank.yaml", n.Line, "%s: domain %q is not one of exam.yaml's domains", where, t.Domain)
		case strings.TrimSpace(t.Title) == "" || strings.TrimSpace(t.Text) == "":
			add("bank.yaml", n.Line, "%s: title and text are required", where)
		case t.Namespace != "" && ex.Sandbox != labs.SandboxCluster && !slices.Contains(ex.Namespaces, t.Namespace):
			add("bank.yaml", n.Line, "%s: namespace %q is not one of exam.yaml's namespaces %v", where, t.Namespace, ex.Namespaces)
		}
		seen[t.ID] = n.Line
		bank = append(bank, t)
	}
	return bank
}

func parseParams(n *yaml.Node, t *BankTask, add func(string, int, string, ...any)) []Param {
	if n.Kind != yaml.MappingNode {
		add("bank.yaml", n.Line, "task %q: params is a mapping of name: [values]", t.ID)
		return nil
	}
	var out []Param
	for i := 0; i+1 < len(n.Content); i += 2 {
		p := Param{Name: n.Content[i].Value}
		if err := n.Content[i+1].Decode(&p.Values); err != nil || len(p.Values) == 0 || !param.MatchString(p.Name) {
			add("bank.yaml", n.Content[i].Line, "task %q: param %q needs a name (a letter, then letters, digits, _) and a list of values", t.ID, p.Name)
			continue
		}
		out = append(out, p)
	}
	return out
}

// Draw is one attempt's tasks and their params.
type Draw struct {
	Exam  *Exam
	Seed  uint64
	Tasks []DrawnTask
}

// DrawnTask is a bank task with its drawn params.
type DrawnTask struct {
	Task   *BankTask
	Params map[string]string
}

// DrawTasks picks an attempt's tasks, reproducibly from seed: from each domain
// its weight's share of Exam.Draw (largest remainders round; a domain with
// too few tasks leaves its share to the others), in domain order, each
// task's params drawn from their lists.
func (e *Exam) DrawTasks(seed uint64) Draw {
	rng := rand.New(rand.NewPCG(seed, seed^0x6b75626c6162))
	byDomain := map[string][]*BankTask{}
	for _, t := range e.Bank {
		byDomain[t.Domain] = append(byDomain[t.Domain], t)
	}
	counts := shares(e.Domains, e.Draw, byDomain)
	d := Draw{Exam: e, Seed: seed}
	for _, dom := range e.Domains {
		pool := slices.Clone(byDomain[dom.ID])
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		for _, t := range pool[:counts[dom.ID]] {
			values := map[string]string{}
			for _, p := range t.Params {
				values[p.Name] = p.Values[rng.IntN(len(p.Values))]
			}
			d.Tasks = append(d.Tasks, DrawnTask{Task: t, Params: values})
		}
	}
	return d
}

// shares splits n tasks over the domains by weight, never more than a
// domain has.
func shares(domains []Domain, n int, byDomain map[string][]*BankTask) map[string]int {
	counts := map[string]int{}
	type rem struct {
		id   string
		frac float64
	}
	var rems []rem
	given := 0
	for _, d := range domains {
		exact := float64(n*d.Weight) / 100
		c := min(int(exact), len(byDomain[d.ID]))
		counts[d.ID] = c
		given += c
		rems = append(rems, rem{d.ID, exact - float64(int(exact))})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	for given < n {
		progressed := false
		for _, r := range rems {
			if given < n && counts[r.id] < len(byDomain[r.id]) {
				counts[r.id]++
				given++
				progressed = true
			}
		}
		if !progressed {
			break // the bank has fewer tasks than n (Load refuses that)
		}
	}
	return counts
}

// Every returns an exam whose draw holds its whole bank, each task's
// params set to the k-th of validationDraws' variants (wrapping): what
// `kubelab exams test` proves in one sandbox, so tasks that would clash
// when drawn together (the same object names) fail there too.
func (e *Exam) Every(k int) Draw {
	d := Draw{Exam: e}
	for _, t := range e.Bank {
		variants := validationDraws(t)
		d.Tasks = append(d.Tasks, DrawnTask{Task: t, Params: variants[k%len(variants)]})
	}
	return d
}

// ChapterID is the chapter an exam's attempts run as.
func (e *Exam) ChapterID() string { return "exam-" + e.ID }

// Chapter renders the draw as chapter Exam.ChapterID(): a step per task
// (its text), the tasks with their drawn values, the exam's namespaces,
// loaded and validated by package labs.
func (d Draw) Chapter(opts labs.Options) (*labs.Chapter, error) {
	return d.ChapterAs(d.Exam.ChapterID(), opts)
}

// ChapterAs is Chapter with another chapter id.
func (d Draw) ChapterAs(id string, opts labs.Options) (*labs.Chapter, error) {
	cat, err := d.CatalogAs(id, opts)
	if err != nil {
		return nil, err
	}
	return cat.Chapters()[0], nil
}

// CatalogAs is the catalog holding the draw's chapter, id: it renders the
// tasks' text (StepHTML, one step per task, in draw order).
func (d Draw) CatalogAs(id string, opts labs.Options) (*labs.Catalog, error) {
	ex := d.Exam
	dir := "01-" + id
	files := fstest.MapFS{}
	chapter := map[string]any{
		"id": id, "title": ex.Title, "summary": cmp.Or(ex.Summary, ex.Title), "order": 1,
		"minutes": ex.Minutes, "size": ex.Size, "sandbox": ex.Sandbox, "namespaces": ex.Namespaces, "needs": []string{},
	}
	if ex.Sandbox == labs.SandboxCluster {
		if len(ex.Nodes) > 0 {
			chapter["nodes"] = ex.Nodes
		}
		if len(ex.Clusters) > 0 {
			chapter["clusters"] = ex.Clusters
		}
	}
	chapterYAML, err := yaml.Marshal(chapter)
	if err != nil {
		return nil, fmt.Errorf("exam %s: %w", ex.ID, err)
	}
	files[dir+"/chapter.yaml"] = &fstest.MapFile{Data: chapterYAML}
	var tasks []*yaml.Node
	for i, dt := range d.Tasks {
		step := fmt.Sprintf("%02d-%s", i+1, dt.Task.ID)
		title, err := render(dt.Task.ID+" title", dt.Task.Title, dt.Params)
		if err != nil {
			return nil, err
		}
		text, err := render(dt.Task.ID+" text", dt.Task.Text, dt.Params)
		if err != nil {
			return nil, err
		}
		files[dir+"/"+step+".md"] = &fstest.MapFile{Data: []byte("# " + title + "\n\n" + text)}
		body, err := yaml.Marshal(dt.Task.body)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", dt.Task.ID, err)
		}
		rendered, err := render(dt.Task.ID, string(body), dt.Params)
		if err != nil {
			return nil, err
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(rendered), &n); err != nil || len(n.Content) == 0 {
			return nil, fmt.Errorf("task %s: its fields are not YAML once rendered: %v", dt.Task.ID, err)
		}
		m := n.Content[0]
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: "step"}, &yaml.Node{Kind: yaml.ScalarNode, Value: step},
			&yaml.Node{Kind: yaml.ScalarNode, Value: "title"}, &yaml.Node{Kind: yaml.ScalarNode, Value: title},
			&yaml.Node{Kind: yaml.ScalarNode, Value: "points"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(dt.Task.Weight)})
		tasks = append(tasks, m)
	}
	tasksYAML, err := yaml.Marshal(map[string]any{"tasks": tasks})
	if err != nil {
		return nil, fmt.Errorf("exam %s: %w", ex.ID, err)
	}
	files[dir+"/tasks.yaml"] = &fstest.MapFile{Data: tasksYAML}
	cat, err := labs.Load(files, opts)
	if err != nil {
		var ve *labs.ValidationError
		if errors.As(err, &ve) {
			var msgs []string
			for _, p := range ve.Problems {
				msgs = append(msgs, p.Message)
			}
			return nil, errors.New(strings.Join(msgs, "; "))
		}
		return nil, err
	}
	return cat, nil
}

// render executes a task's template over its params; a name the params
// lack is an error, not "<no value>".
func render(name, text string, params map[string]string) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, params); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}
