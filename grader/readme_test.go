package grader_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
)

// TestREADMEChecks loads every example check in labs/README.md (a yaml
// block that is a list of checks) into a cluster chapter, so the format's
// documentation cannot show a check the loader or the grader refuses.
func TestREADMEChecks(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../labs/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	var checks []string
	for _, b := range blocks {
		lines := strings.Split(b[1], "\n")
		indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
		if !strings.HasPrefix(strings.TrimSpace(lines[0]), "- resource:") {
			continue
		}
		for i, l := range lines {
			if len(l) >= indent {
				lines[i] = l[indent:]
			}
		}
		checks = append(checks, strings.Join(lines, "\n"))
	}
	if len(checks) < 7 {
		t.Fatalf("found %d example check blocks in labs/README.md; the extraction is broken", len(checks))
	}
	var tasks strings.Builder
	tasks.WriteString("tasks:\n")
	for i, c := range checks {
		tasks.WriteString("  - id: example-" + string(rune('a'+i)) + "\n    step: 01-only\n    title: Example\n    solution: \"true\"\n    checks:\n")
		for _, l := range strings.Split(strings.TrimRight(c, "\n"), "\n") {
			tasks.WriteString("      " + l + "\n")
		}
	}
	fsys := fstest.MapFS{
		"01-examples/chapter.yaml": {Data: []byte("id: examples\ntitle: Examples\nsandbox: cluster\nclusters: [staging]\n")},
		"01-examples/01-only.md":   {Data: []byte("# Only\n")},
		"01-examples/tasks.yaml":   {Data: []byte(tasks.String())},
	}
	if _, err := labs.Load(fsys, labs.Options{CompileCheck: grader.CompileCheck}); err != nil {
		t.Fatalf("the README's example checks do not load:\n%v\n\ntasks.yaml:\n%s", err, tasks.String())
	}
}
