package labs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/grader"
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
					"![absolute](/etc/passwd.png)\n\n![not an image](tasks.yaml)\n\n![ok](pod.png)\n\n" +
					"```yaml file=../escape.yaml\nkind: Pod\n```\n\n```run file=pod.yaml\nkubectl get pods\n```\n\n```yaml file=.bashrc\nx\n```\n\n```yaml file=manifests/pod.yaml\nkind: Pod\n```\n",
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
				`01-pods/01-first.md:22: file="../escape.yaml": name a file in the learner's home with letters, digits, '.', '_', '-' and '/' (such as file=pod.yaml or file=manifests/pod.yaml), not starting with '.' and without '..'`,
				"01-pods/01-first.md:26: file= belongs on a block to save (```yaml file=pod.yaml), not on a run block",
				`01-pods/01-first.md:30: file=".bashrc": name a file in the learner's home with letters, digits, '.', '_', '-' and '/' (such as file=pod.yaml or file=manifests/pod.yaml), not starting with '.' and without '..'`,
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
				`01-pods/tasks.yaml:14: task "hello" check 8: match "some" must be all, any, count or none`,
				`01-pods/tasks.yaml:16: task "hello" check 9: min is only allowed with match: count`,
				`01-pods/tasks.yaml:17: task "hello" check 10: match count needs min or max`,
				`01-pods/tasks.yaml:22: task "hello" check 11: min 3 is greater than max 2`,
				`01-pods/tasks.yaml:25: task "hello" check 12: min must be >= 0`,
				`01-pods/tasks.yaml:26: task "hello" check 12: max must be an integer, not "many"`,
				`01-pods/tasks.yaml:27: task "hello" check 13: resource, exec or probe is required`,
				`01-pods/tasks.yaml:28: task "hello" check 13: unknown field "expected"`,
				`01-pods/tasks.yaml:29: task "hello" check 14: compile expect: ERROR: <input>:1:1: undeclared reference to 'nope'`,
				`01-pods/tasks.yaml:31: task "hello" check 15: check must be a mapping`,
			},
		},
		{
			name: "with and within",
			files: map[string]string{"01-pods/tasks.yaml": tasksWith(`      - resource: {apiVersion: v1, kind: ConfigMap, name: answers}
        with:
          pods: {apiVersion: v1, kind: Pod, selector: tier=db}
          object: {apiVersion: v1, kind: Pod}
          Nodes: {apiVersion: v1, kind: Node}
          svc: {kind: Service}
        within: 30s
      - resource: {apiVersion: v1, kind: Pod}
        with: [pods]
        within: soon
      - resource: {apiVersion: v1, kind: Pod}
        within: 1h
      - exec: {pod: web, command: [cat, /x]}
        with: {pods: {apiVersion: v1, kind: Pod}}
      - resource: {apiVersion: v1, kind: Pod, name: gone}
        match: none
`)},
			want: []string{
				`01-pods/tasks.yaml:9: task "hello" check 1: with name "object" is taken in CEL: choose another`,
				`01-pods/tasks.yaml:10: task "hello" check 1: with name "Nodes" must be a lowercase identifier such as pods or nodes`,
				`01-pods/tasks.yaml:10: task "hello" check 1: with Nodes: Node is cluster-scoped: a namespace sandbox cannot see it (a learner there has no rights on it); give the chapter sandbox: cluster`,
				`01-pods/tasks.yaml:11: task "hello" check 1: with svc: resource apiVersion is required`,
				`01-pods/tasks.yaml:14: task "hello" check 2: with must map names to resources, e.g. with: {pods: {apiVersion: v1, kind: Pod, selector: app=web}}`,
				`01-pods/tasks.yaml:15: task "hello" check 2: within "soon" must be a duration such as 30s`,
				`01-pods/tasks.yaml:17: task "hello" check 3: within "1h" is longer than the maximum 5m0s`,
				`01-pods/tasks.yaml:18: task "hello" check 4: exec checks need real containers: add needs: [runtime] to chapter.yaml`,
				`01-pods/tasks.yaml:19: task "hello" check 4: with applies only to resource checks`,
			},
		},
		{
			name: "exec and probe need the runtime",
			files: map[string]string{"01-pods/tasks.yaml": tasksWith(`      - exec: {pod: web, command: [cat, /etc/hostname]}
      - probe: {http: "http://web/"}
`)},
			want: []string{
				`01-pods/tasks.yaml:6: task "hello" check 1: exec checks need real containers: add needs: [runtime] to chapter.yaml`,
				`01-pods/tasks.yaml:7: task "hello" check 2: probe checks need real containers: add needs: [runtime] to chapter.yaml`,
			},
		},
		{
			name: "exec and probe checks",
			files: map[string]string{
				"01-pods/chapter.yaml": baseChapter + "needs: [runtime]\n",
				"01-pods/tasks.yaml": tasksWith(`      - resource: {apiVersion: v1, kind: Pod, name: web}
        exec: {pod: web, command: [ls]}
        probe: {dns: web}
      - exec: {pod: web, selector: app=web, command: [ls]}
      - exec: {command: [ls], namespace: prod}
      - exec: {pod: "Web Server", container: Nginx, command: cat /etc/hostname}
      - exec: {selector: "app in (web", command: []}
      - exec: {pod: web}
        match: any
        min: 1
      - exec: {pod: web, command: [ls], timeout: soon}
      - exec: {pod: web, command: [ls], timeout: 0s}
      - probe: {pod: web, command: [ls], timeout: 61s}
      - probe: {http: "http://web/", dns: web}
      - probe: {timeout: 90s}
      - probe: {http: "ftp://web/"}
      - probe: {dns: "web..dev", namespace: prod}
      - exec:
      - exec: {pod: web, command: [ls, 1, [x]]}
`),
			},
			want: []string{
				`01-pods/tasks.yaml:7: task "hello" check 1: resource and exec are exclusive: a check has one source`,
				`01-pods/tasks.yaml:9: task "hello" check 2: pod and selector are exclusive`,
				`01-pods/tasks.yaml:10: task "hello" check 3: exec needs pod or selector`,
				`01-pods/tasks.yaml:10: task "hello" check 3: namespace "prod" is not declared in chapter.yaml namespaces`,
				`01-pods/tasks.yaml:11: task "hello" check 4: exec pod "Web Server" is not a valid Pod name`,
				`01-pods/tasks.yaml:11: task "hello" check 4: exec container "Nginx" is not a valid container name`,
				`01-pods/tasks.yaml:11: task "hello" check 4: exec command must be a list (argv), such as [cat, /etc/hostname]; for a shell write [sh, -c, "..."]`,
				`01-pods/tasks.yaml:12: task "hello" check 5: invalid selector "app in (web": unable to parse requirement: found '', expected: ',' or ')'`,
				`01-pods/tasks.yaml:12: task "hello" check 5: exec command is empty`,
				`01-pods/tasks.yaml:13: task "hello" check 6: exec command is required`,
				`01-pods/tasks.yaml:14: task "hello" check 6: match applies only to resource checks`,
				`01-pods/tasks.yaml:15: task "hello" check 6: min applies only to resource checks`,
				`01-pods/tasks.yaml:16: task "hello" check 7: exec timeout "soon" must be a duration such as 10s`,
				`01-pods/tasks.yaml:17: task "hello" check 8: exec timeout "0s" must be positive`,
				`01-pods/tasks.yaml:18: task "hello" check 9: unknown field "pod"`,
				`01-pods/tasks.yaml:18: task "hello" check 9: unknown field "command"`,
				`01-pods/tasks.yaml:18: task "hello" check 9: probe needs http or dns`,
				`01-pods/tasks.yaml:18: task "hello" check 9: probe timeout "61s" is longer than the maximum 60s`,
				`01-pods/tasks.yaml:19: task "hello" check 10: http and dns are exclusive`,
				`01-pods/tasks.yaml:20: task "hello" check 11: probe needs http or dns`,
				`01-pods/tasks.yaml:20: task "hello" check 11: probe timeout "90s" is longer than the maximum 60s`,
				`01-pods/tasks.yaml:21: task "hello" check 12: probe http "ftp://web/" must be an http:// or https:// URL`,
				`01-pods/tasks.yaml:22: task "hello" check 13: probe dns "web..dev" must be a DNS name such as web.dev.svc.cluster.local`,
				`01-pods/tasks.yaml:22: task "hello" check 13: namespace "prod" is not declared in chapter.yaml namespaces`,
				`01-pods/tasks.yaml:23: task "hello" check 14: exec is empty`,
				`01-pods/tasks.yaml:24: task "hello" check 15: command must be a list of strings`,
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
		{
			name:  "cluster-scoped check in a namespace sandbox",
			files: map[string]string{"01-pods/tasks.yaml": tasksWith("      - resource: {apiVersion: v1, kind: Node, name: node01}\n")},
			want:  []string{`01-pods/tasks.yaml:6: task "hello" check 1: Node is cluster-scoped: a namespace sandbox cannot see it (a learner there has no rights on it); give the chapter sandbox: cluster`},
		},
		{
			name: "cluster chapter mistakes",
			files: map[string]string{
				"01-pods/chapter.yaml": "id: pods\ntitle: Pods\nsandbox: cluster\nnamespaces: [dev]\nnodes: [cp, Node_2, cp]\n",
				"01-pods/tasks.yaml": tasksWith("      - resource: {apiVersion: storage.k8s.io/v1, kind: StorageClass, name: fast, namespace: dev}\n" +
					"      - resource: {apiVersion: v1, kind: Pod, name: web, namespace: Bad_NS}\n"),
			},
			want: []string{
				"01-pods/chapter.yaml:4: a cluster sandbox has every namespace its learner makes: list none here, and create the ones the lab needs in a task's setup",
				`01-pods/chapter.yaml:5: node "Node_2" must be a DNS-1123 label (lowercase letters, digits, hyphens)`,
				`01-pods/chapter.yaml:5: node "cp" is listed twice`,
				`01-pods/tasks.yaml:6: task "hello" check 1: StorageClass is cluster-scoped: omit namespace`,
				`01-pods/tasks.yaml:7: task "hello" check 2: namespace "Bad_NS" must be a DNS-1123 label`,
			},
		},
		{
			name: "further clusters done wrong",
			files: map[string]string{
				"01-pods/chapter.yaml": "id: pods\ntitle: Pods\nsandbox: cluster\nclusters: [pods, Staging, west, west, a, b, c]\n",
				"01-pods/tasks.yaml":   tasksWith("      - resource: {apiVersion: v1, kind: Node, name: node01}\n        cluster: east\n"),
			},
			want: []string{
				`01-pods/chapter.yaml:4: cluster "pods": the primary cluster's context already has the chapter's id as its name`,
				`01-pods/chapter.yaml:4: cluster "Staging" must be a DNS-1123 label (lowercase letters, digits, hyphens)`,
				`01-pods/chapter.yaml:4: cluster "west" is listed twice`,
				"01-pods/chapter.yaml:4: 7 further clusters: a chapter may have at most 3",
				`01-pods/tasks.yaml:7: task "hello" check 1: cluster "east" is not declared in chapter.yaml clusters (omit cluster: for the primary cluster)`,
			},
		},
		{
			name:  "further clusters in a namespace chapter",
			files: map[string]string{"01-pods/chapter.yaml": baseChapter + "clusters: [other]\n"},
			want:  []string{"01-pods/chapter.yaml:4: clusters: only a chapter with sandbox: cluster can have further clusters"},
		},
		{
			name:  "nodes in a namespace chapter",
			files: map[string]string{"01-pods/chapter.yaml": baseChapter + "nodes: [a, b]\n"},
			want:  []string{"01-pods/chapter.yaml:4: nodes: only a chapter with sandbox: cluster has nodes of its own"},
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

// TestLoadRuntimeChecks loads exec and probe checks and their defaults.
func TestLoadRuntimeChecks(t *testing.T) {
	t.Parallel()
	cat, err := labs.Load(labFS(map[string]string{
		"01-pods/chapter.yaml": baseChapter + "needs: [runtime]\n",
		"01-pods/tasks.yaml": tasksWith(`      - exec:
          pod: web
          container: nginx
          command: [cat, /usr/share/nginx/html/index.html]
        expect: output.contains('hello')
        message: index.html says hello
      - exec: {selector: app=web, namespace: dev, command: [sh, -c, "exit 3"], timeout: 1m}
        expect: exitCode == 3
      - probe: {http: "http://web/", timeout: 5s}
      - probe: {dns: web.dev.svc.cluster.local, namespace: dev}
        expect: addresses.size() == 1
`),
	}), labs.Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	task, err := cat.Task("pods", "hello")
	if err != nil {
		t.Fatalf("Task: %v", err)
	}
	want := []labs.Check{
		{Exec: &labs.Exec{Pod: "web", Container: "nginx", Command: []string{"cat", "/usr/share/nginx/html/index.html"}, Timeout: labs.DefaultExecTimeout},
			Expect: "output.contains('hello')", Message: "index.html says hello", File: "01-pods/tasks.yaml", Line: 6},
		{Exec: &labs.Exec{Selector: "app=web", Namespace: "dev", Command: []string{"sh", "-c", "exit 3"}, Timeout: time.Minute},
			Expect: "exitCode == 3", File: "01-pods/tasks.yaml", Line: 12},
		{Probe: &labs.Probe{HTTP: "http://web/", Timeout: 5 * time.Second}, File: "01-pods/tasks.yaml", Line: 14},
		{Probe: &labs.Probe{DNS: "web.dev.svc.cluster.local", Namespace: "dev", Timeout: labs.DefaultProbeTimeout},
			Expect: "addresses.size() == 1", File: "01-pods/tasks.yaml", Line: 15},
	}
	if diff := cmp.Diff(want, task.Checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

// TestLoadCompilesRuntimeChecks loads exec and probe checks with the
// grader's compiler: each source has its own typed variables.
func TestLoadCompilesRuntimeChecks(t *testing.T) {
	t.Parallel()
	_, err := labs.Load(labFS(map[string]string{
		"01-pods/chapter.yaml": baseChapter + "needs: [runtime]\n",
		"01-pods/tasks.yaml": tasksWith(`      - exec: {pod: web, command: [ls]}
        expect: output.contains(1)
      - exec: {pod: web, command: [ls]}
        expect: exitCode == 0 && stdout.startsWith('a') && stderr == ''
        actual: size(output)
      - exec: {pod: web, command: [ls]}
        expect: object.metadata.name == 'web'
      - probe: {http: "http://web/"}
        expect: status == 200 && body.contains('Welcome') && error == ''
      - probe: {http: "http://web/"}
        expect: addresses.size() > 0
      - probe: {dns: web}
        expect: addresses.exists(a, a.startsWith('10.')) && error == ''
      - probe: {dns: web}
        expect: status == 200
      - resource: {apiVersion: v1, kind: Pod, name: web}
        expect: output == ''
`),
	}), labs.Options{CompileCheck: grader.CompileCheck})
	var verr *labs.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Load: got error %v (%T), want *ValidationError", err, err)
	}
	var got []string
	for _, p := range verr.Problems {
		msg, _, _ := strings.Cut(p.String(), " (") // keep the head of CEL's message
		got = append(got, msg)
	}
	want := []string{
		`01-pods/tasks.yaml:6: task "hello" check 1: expect: ERROR: <input>:1:16: found no matching overload for 'contains' applied to 'string.(int)'`,
		`01-pods/tasks.yaml:11: task "hello" check 3: expect: ERROR: <input>:1:1: undeclared reference to 'object'`,
		`01-pods/tasks.yaml:15: task "hello" check 5: expect: ERROR: <input>:1:1: undeclared reference to 'addresses'`,
		`01-pods/tasks.yaml:19: task "hello" check 7: expect: ERROR: <input>:1:1: undeclared reference to 'status'`,
		`01-pods/tasks.yaml:21: task "hello" check 8: expect: ERROR: <input>:1:1: undeclared reference to 'output'`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestLoadClusterChapter: a cluster chapter reads cluster-scoped kinds and
// real namespaces, and keeps its node layout unless it is the default.
func TestLoadClusterChapter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		nodes        string
		want         []string
		wantClusters []string
	}{
		{"default layout", "", nil, nil},
		{"the default spelled out", "nodes: [controlplane, node01, node02]\n", nil, nil},
		{"a layout of its own", "nodes: [master, worker]\n", []string{"master", "worker"}, nil},
		{"further clusters", "clusters: [staging, prod]\n", nil, []string{"staging", "prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cat, err := labs.Load(labFS(map[string]string{
				"01-pods/chapter.yaml": "id: pods\ntitle: Pods\nsandbox: cluster\n" + tt.nodes,
				"01-pods/tasks.yaml": tasksWith("      - resource: {apiVersion: v1, kind: Node, name: node01}\n" +
					"      - resource: {apiVersion: v1, kind: Pod, name: web, namespace: team-a}\n"),
			}), labs.Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			ch, err := cat.Chapter("pods")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ch.Nodes); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantClusters, ch.Clusters); diff != "" {
				t.Errorf("clusters (-want +got):\n%s", diff)
			}
		})
	}
}
