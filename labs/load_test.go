package labs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/labs"
)

const (
	baseChapter = `id: pods
title: Pods
namespaces: [dev]
`
	baseStep  = "# First steps\n\nSome text.\n"
	baseTasks = `tasks:
  - id: hello
    step: 01-first
    title: Hello
    checks:
      - resource: {apiVersion: v1, kind: Pod, name: hello}
    solution: kubectl run hello --image=nginx:1.27
`
)

// labFS returns a valid one-chapter lab with files replaced or added by
// overrides; an override with value "-" removes the file.
func labFS(overrides map[string]string) fstest.MapFS {
	files := map[string]string{
		"01-pods/chapter.yaml": baseChapter,
		"01-pods/01-first.md":  baseStep,
		"01-pods/tasks.yaml":   baseTasks,
		"README.md":            "not a chapter",
		"labs.go":              "package labs",
		"testdata/x.txt":       "ignored",
	}
	for name, content := range overrides {
		if content == "-" {
			delete(files, name)
			continue
		}
		files[name] = content
	}
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return fsys
}

// tasksWith returns a tasks.yaml whose single task has the given check lines
// (starting on line 6) and the default id, step, title and solution.
func tasksWith(checks string) string {
	return "tasks:\n  - id: hello\n    step: 01-first\n    title: Hello\n    checks:\n" + checks +
		"    solution: kubectl run hello --image=nginx:1.27\n"
}

func TestLoadProblems(t *testing.T) {
	t.Parallel()
	compile := func(c labs.Check) error {
		if strings.Contains(c.Expect, "nope") {
			return fmt.Errorf("compile expect: ERROR: <input>:1:1: undeclared reference to 'nope'\n | nope == 1\n | ^")
		}
		return nil
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "no chapters",
			files: map[string]string{"01-pods/chapter.yaml": "-", "01-pods/01-first.md": "-", "01-pods/tasks.yaml": "-"},
			want:  []string{".: no chapter folders (NN-slug) found"},
		},
		{
			name:  "bad folder name",
			files: map[string]string{"02-Bad_Name/chapter.yaml": baseChapter},
			want:  []string{"02-Bad_Name: chapter folder name must be NN-slug (slug: lowercase letters, digits and hyphens)"},
		},
		{
			name:  "missing files",
			files: map[string]string{"01-pods/chapter.yaml": "-", "01-pods/tasks.yaml": "-"},
			want:  []string{"01-pods: missing chapter.yaml", "01-pods: missing tasks.yaml"},
		},
		{
			name:  "empty chapter.yaml",
			files: map[string]string{"01-pods/chapter.yaml": "# nothing\n"},
			want:  []string{"01-pods/chapter.yaml: file is empty"},
		},
		{
			name:  "yaml syntax error",
			files: map[string]string{"01-pods/chapter.yaml": "id: pods\ntitle: a: b\n"},
			want:  []string{"01-pods/chapter.yaml:2: invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name:  "chapter.yaml is a list",
			files: map[string]string{"01-pods/chapter.yaml": "- id: pods\n"},
			want:  []string{"01-pods/chapter.yaml:1: chapter.yaml must be a mapping", "01-pods/chapter.yaml:1: id is required (the folder name without its number: \"pods\")", "01-pods/chapter.yaml:1: title is required"},
		},
		{
			name: "chapter fields",
			files: map[string]string{"01-pods/chapter.yaml": `id: pod
title: ""
titel: Pods
order: first
minutes: -5
size: huge
sandbox: vm
namespaces: [dev, Dev, dev]
needs: [runtime, gpu, runtime]
summary: [not, a, string]
id: again
`},
			want: []string{
				`01-pods/chapter.yaml:1: id "pod" must equal the folder name without its number ("pods")`,
				`01-pods/chapter.yaml:2: title is empty`,
				`01-pods/chapter.yaml:3: unknown field "titel"`,
				`01-pods/chapter.yaml:4: order must be an integer, not "first"`,
				`01-pods/chapter.yaml:5: minutes must be >= 0`,
				`01-pods/chapter.yaml:6: size "huge" must be small, medium or large`,
				`01-pods/chapter.yaml:7: sandbox "vm" must be namespace or cluster`,
				`01-pods/chapter.yaml:8: namespace "Dev" must be a DNS-1123 label (lowercase letters, digits, hyphens)`,
				`01-pods/chapter.yaml:8: namespace "dev" is listed twice`,
				`01-pods/chapter.yaml:9: need "gpu" must be runtime or cluster-admin`,
				`01-pods/chapter.yaml:9: need "runtime" is listed twice`,
				`01-pods/chapter.yaml:10: summary must be a string`,
				`01-pods/chapter.yaml:11: field "id" is set twice`,
			},
		},
		{
			name: "duplicate order and id",
			files: map[string]string{
				"02-pods/chapter.yaml":     baseChapter,
				"02-pods/01-first.md":      baseStep,
				"02-pods/tasks.yaml":       baseTasks,
				"03-services/chapter.yaml": "id: services\ntitle: Services\norder: 1\n",
				"03-services/01-first.md":  baseStep,
				"03-services/tasks.yaml":   baseTasks,
			},
			want: []string{
				`02-pods/chapter.yaml: chapter id "pods" already used by 01-pods`,
				`03-services/chapter.yaml:3: order 1 already used by 01-pods`,
			},
		},
		{
			name: "steps",
			files: map[string]string{
				"01-pods/01-first.md":  "Intro without a heading.\n\n## Only a second-level heading\n",
				"01-pods/02-empty.md":  "#\n\ntext\n",
				"01-pods/notes.md":     "# Notes\n",
				"01-pods/README.md":    "authors' notes are fine",
				"01-pods/diagram.png":  "png",
				"01-pods/img/other.md": "# in a subfolder: an asset, not a step\n",
			},
			want: []string{
				`01-pods/01-first.md:1: step has no level-1 heading (# Title)`,
				`01-pods/02-empty.md:1: step title (first level-1 heading) is empty`,
				`01-pods/notes.md: Markdown file is neither a step (NN-name.md) nor README.md`,
			},
		},
		{
			name: "only preconditions",
			files: map[string]string{"01-pods/tasks.yaml": tasksWith(
				"      - resource: {apiVersion: v1, kind: Pod, selector: run=x}\n        match: count\n        max: 0\n        precondition: true\n")},
			want: []string{
				`01-pods/tasks.yaml:6: task "hello": every check is a precondition: at least one check must measure what the learner does`,
			},
		},
		{
			name: "precondition not a bool",
			files: map[string]string{"01-pods/tasks.yaml": tasksWith(
				"      - resource: {apiVersion: v1, kind: Pod, name: hello}\n        precondition: yes please\n")},
			want: []string{
				`01-pods/tasks.yaml:7: task "hello" check 1: precondition must be true or false, not "yes please"`,
			},
		},
		{
			name:  "no steps",
			files: map[string]string{"01-pods/01-first.md": "-"},
			want: []string{
				`01-pods: chapter has no steps (NN-name.md files)`,
				`01-pods/tasks.yaml:3: task "hello" names missing step "01-first"`,
			},
		},
		{
			name: "markdown",
			files: map[string]string{
				"01-pods/01-first.md": "# First\n\n> [!CAUTION]\n> careful\n\n```run yaml\nkind: Pod\n```\n\n" +
					"![missing](nothere.png)\n\n![remote](https://example.com/x.png)\n\n![escape](../02-x/a.png)\n\n" +
					"![absolute](/etc/passwd.png)\n\n![not an image](tasks.yaml)\n\n![ok](pod.png)\n",
				"01-pods/pod.png": "png",
			},
			want: []string{
				`01-pods/01-first.md:3: unknown admonition [!CAUTION] (use NOTE, TIP, WARNING or REAL-CLUSTER)`,
				"01-pods/01-first.md:6: run blocks are shell: use ```run or ```run bash, not ```run yaml",
				`01-pods/01-first.md:10: image "nothere.png" not found in the chapter folder`,
				`01-pods/01-first.md:12: image "https://example.com/x.png" must be a relative path to a file in the chapter folder`,
				`01-pods/01-first.md:14: image "../02-x/a.png" must be a relative path to a file in the chapter folder`,
				`01-pods/01-first.md:16: image "/etc/passwd.png" must be a relative path to a file in the chapter folder`,
				`01-pods/01-first.md:18: image "tasks.yaml" not found in the chapter folder`,
			},
		},
		{
			name:  "tasks.yaml shape",
			files: map[string]string{"01-pods/tasks.yaml": "task:\n  - id: x\n"},
			want: []string{
				`01-pods/tasks.yaml:1: unknown field "task"`,
				`01-pods/tasks.yaml:1: tasks: at least one task is required`,
			},
		},
		{
			name:  "tasks not a list",
			files: map[string]string{"01-pods/tasks.yaml": "tasks: {id: x}\n"},
			want:  []string{`01-pods/tasks.yaml:1: tasks must be a list`},
		},
		{
			name: "task fields",
			files: map[string]string{"01-pods/tasks.yaml": `tasks:
  - id: hello
    step: 03-x
    title: Hello
    points: 0
    challenge: yes please
    hints: ["", "fine", [nested]]
    checks:
      - resource: {apiVersion: v1, kind: Pod, name: hello}
    solution: "  "
    difficulty: hard
  - id: hello
    step: 01-first
    checks: []
  - id: Bad_ID
    title: No step
    checks: {}
    solution: x
  - step: 01-first
    title: No id
    checks:
      - resource: {apiVersion: v1, kind: Pod}
    solution: x
  - just a string
`},
			want: []string{
				`01-pods/tasks.yaml:3: task "hello" names missing step "03-x"`,
				`01-pods/tasks.yaml:5: task "hello": points must be >= 1`,
				`01-pods/tasks.yaml:6: task "hello": challenge must be true or false, not "yes please"`,
				`01-pods/tasks.yaml:7: task "hello": hints must be a list of strings`,
				`01-pods/tasks.yaml:7: task "hello": hint 1 is empty`,
				`01-pods/tasks.yaml:10: task "hello": solution is empty`,
				`01-pods/tasks.yaml:11: task "hello": unknown field "difficulty"`,
				`01-pods/tasks.yaml:12: task "hello": title is required`,
				`01-pods/tasks.yaml:12: task "hello": solution is required`,
				`01-pods/tasks.yaml:12: task id "hello" already used on line 2`,
				`01-pods/tasks.yaml:14: task "hello": at least one check is required`,
				`01-pods/tasks.yaml:15: task "Bad_ID": id must be lowercase letters, digits and hyphens`,
				`01-pods/tasks.yaml:15: task "Bad_ID": step is required`,
				`01-pods/tasks.yaml:17: task "Bad_ID": checks must be a list`,
				`01-pods/tasks.yaml:19: task 4: id is required`,
				`01-pods/tasks.yaml:24: task 5 must be a mapping`,
			},
		},
		{
			name: "checks",
			files: map[string]string{"01-pods/tasks.yaml": tasksWith(`      - resource: {apiVersion: v1, kind: Pod, name: hello, selector: app=web}
      - resource: {apiVersion: v1, kind: Pod, selector: "app in (web"}
      - resource: {apiVersion: v1, kind: Pod, selector: ""}
      - resource: {apiVersion: v1, kind: Pod, name: "Hello World"}
      - resource: {apiVersion: v1, kind: Pod, namespace: prod}
      - resource: {apiVersion: "apps/v1beta", kind: pod}
      - resource: {name: x, labels: y}
      - resource: {apiVersion: v1, kind: Pod}
        match: some
      - resource: {apiVersion: v1, kind: Pod}
        min: 1
      - resource: {apiVersion: v1, kind: Pod}
        match: count
      - resource: {apiVersion: v1, kind: Pod}
        match: count
        min: 3
        max: 2
      - resource: {apiVersion: v1, kind: Pod}
        match: count
        min: -1
        max: many
      - match: any
        expected: true
      - resource: {apiVersion: v1, kind: Pod, namespace: dev}
        expect: nope == 1
      - "not a mapping"
`)},
			want: []string{
				`01-pods/tasks.yaml:6: task "hello" check 1: name and selector are exclusive`,
				`01-pods/tasks.yaml:7: task "hello" check 2: invalid selector "app in (web": unable to parse requirement: found '', expected: ',' or ')'`,
				`01-pods/tasks.yaml:8: task "hello" check 3: selector is empty (omit it to select every Pod)`,
				`01-pods/tasks.yaml:9: task "hello" check 4: resource name "Hello World" is not a valid object name`,
				`01-pods/tasks.yaml:10: task "hello" check 5: namespace "prod" is not declared in chapter.yaml namespaces`,
				`01-pods/tasks.yaml:11: task "hello" check 6: resource apiVersion "apps/v1beta" must look like v1 or apps/v1`,
				`01-pods/tasks.yaml:11: task "hello" check 6: resource kind "pod" must be a Kind such as Pod or Deployment`,
				`01-pods/tasks.yaml:12: task "hello" check 7: unknown field "labels"`,
				`01-pods/tasks.yaml:12: task "hello" check 7: resource apiVersion is required`,
				`01-pods/tasks.yaml:12: task "hello" check 7: resource kind is required`,
				`01-pods/tasks.yaml:14: task "hello" check 8: match "some" must be all, any or count`,
				`01-pods/tasks.yaml:16: task "hello" check 9: min is only allowed with match: count`,
				`01-pods/tasks.yaml:17: task "hello" check 10: match count needs min or max`,
				`01-pods/tasks.yaml:22: task "hello" check 11: min 3 is greater than max 2`,
				`01-pods/tasks.yaml:25: task "hello" check 12: min must be >= 0`,
				`01-pods/tasks.yaml:26: task "hello" check 12: max must be an integer, not "many"`,
				`01-pods/tasks.yaml:27: task "hello" check 13: resource is required`,
				`01-pods/tasks.yaml:28: task "hello" check 13: unknown field "expected"`,
				`01-pods/tasks.yaml:29: task "hello" check 14: compile expect: ERROR: <input>:1:1: undeclared reference to 'nope'`,
				`01-pods/tasks.yaml:31: task "hello" check 15: check must be a mapping`,
			},
		},
		{
			name: "hint markdown",
			files: map[string]string{"01-pods/tasks.yaml": `tasks:
  - id: hello
    step: 01-first
    title: Hello
    checks:
      - resource: {apiVersion: v1, kind: Pod, name: hello}
    hints:
      - "![x](missing.png)"
    solution: kubectl run hello --image=nginx:1.27
`},
			want: []string{`01-pods/tasks.yaml:8: task "hello": hint 1: image "missing.png" not found in the chapter folder`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := labs.Load(labFS(tt.files), labs.Options{CompileCheck: compile})
			var verr *labs.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Load: got error %v (%T), want *ValidationError", err, err)
			}
			got := strings.Split(verr.Error(), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
