package grader

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubelab/kubelab/labs"
)

// FuzzCheckExpressions compiles any expect and actual (and a with binding)
// as the loader does, and evaluates what compiles on a Deployment: nothing
// may panic, and the cost limit and the context stop every evaluation.
func FuzzCheckExpressions(f *testing.F) {
	for _, seed := range []struct{ expect, actual, match string }{
		{"object.spec.replicas == 2", "", "all"},
		{"object.?spec.?replicas.orValue(0) > 1", "[object.spec.replicas, object.metadata.name]", "any"},
		{"string(base64.decode(object.metadata.annotations.x)) == 'a'", "", "none"},
		{"pods.all(p, p.metadata.name.startsWith('w'))", "pods.map(p, p.metadata.name)", "count"},
		{"[1,2,3].all(a, [1,2,3].all(b, a + b > 0))", "", ""},
		{"object.spec.(", "", "all"},
		{"quantity('1Gi').isGreaterThan(quantity(object.spec.x))", "", "all"},
	} {
		f.Add(seed.expect, seed.actual, seed.match)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "annotations": map[string]any{"x": "YQ=="}},
		"spec":     map[string]any{"replicas": int64(2), "x": "1Mi"},
	}}
	pods := []any{map[string]any{"metadata": map[string]any{"name": "web-1"}}}
	f.Fuzz(func(t *testing.T, expect, actual, match string) {
		c := labs.Check{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, Expect: expect, Actual: actual, Match: match,
			With: []labs.Binding{{Name: "pods", Resource: labs.Resource{APIVersion: "v1", Kind: "Pod"}}}}
		if match == labs.MatchCount {
			one := 1
			c.Min = &one
		}
		cc, err := compileCheck(c)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, _, _ = cc.evalObject(ctx, obj, map[string]any{"pods": pods})
	})
}

// FuzzLoadChapter loads a chapter of any chapter.yaml, tasks.yaml and step
// Markdown with the grader's compiler: a broken lesson is a list of
// problems, never a panic.
func FuzzLoadChapter(f *testing.F) {
	f.Add("id: c\ntitle: C\n", "tasks:\n  - id: t\n    step: 01-s\n    title: T\n    solution: x\n    checks:\n      - resource: {apiVersion: v1, kind: Pod, name: p}\n", "# S\n\n```run\nkubectl get pods\n```\n")
	f.Add("id: c\ntitle: C\nsandbox: cluster\nclusters: [a, a]\nnodes: []\n", "tasks:\n  - id: t\n    checks:\n      - resource: {apiVersion: v1, kind: Node}\n        with: {x: {kind: Pod}}\n        within: -1s\n        match: none\n        min: 1\n", "> [!NOPE]\n> x\n![i](../../etc/passwd)\n")
	f.Add("{", "tasks: [1, {id: [x]}]", "")
	f.Fuzz(func(t *testing.T, chapter, tasks, step string) {
		fsys := fstest.MapFS{
			"01-c/chapter.yaml": {Data: []byte(chapter)},
			"01-c/tasks.yaml":   {Data: []byte(tasks)},
			"01-c/01-s.md":      {Data: []byte(step)},
		}
		cat, err := labs.Load(fsys, labs.Options{CompileCheck: CompileCheck})
		if err != nil {
			return
		}
		for _, ch := range cat.Chapters() {
			if _, err := Compile(ch); err != nil {
				t.Errorf("loaded chapter does not compile: %v", err)
			}
			for _, st := range ch.Steps {
				_, _ = cat.StepHTML(ch.ID, st.ID)
			}
		}
	})
}
