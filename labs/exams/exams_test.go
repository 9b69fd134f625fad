package exams_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/labs/exams"
)

func loadGood(t *testing.T) *exams.Exam {
	t.Helper()
	list, err := exams.Load(os.DirFS("testdata/good"), labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("loaded %d exams, want 1", len(list))
	}
	return list[0]
}

// TestDrawFollowsWeightsAndSeed: a draw takes each domain's share, the same
// seed draws the same tasks and values, and the checks use the drawn values.
func TestDrawFollowsWeightsAndSeed(t *testing.T) {
	t.Parallel()
	ex := loadGood(t)
	a, again := ex.DrawTasks(7), ex.DrawTasks(7)
	domains := map[string]int{}
	for _, dt := range a.Tasks {
		domains[dt.Task.Domain]++
	}
	if diff := cmp.Diff(map[string]int{"workloads": 2, "config": 1}, domains); diff != "" {
		t.Errorf("tasks per domain (-want +got):\n%s", diff)
	}
	ids := func(d exams.Draw) (out []string) {
		for _, dt := range d.Tasks {
			out = append(out, dt.Task.ID+":"+dt.Params["name"]+dt.Params["image"]+dt.Params["replicas"]+dt.Params["mode"])
		}
		return out
	}
	if diff := cmp.Diff(ids(a), ids(again)); diff != "" {
		t.Errorf("the same seed drew differently:\n%s", diff)
	}
	differ := false
	for seed := range uint64(20) {
		differ = differ || !slices.Equal(ids(ex.DrawTasks(seed)), ids(a))
	}
	if !differ {
		t.Error("twenty seeds drew the same tasks and values")
	}
	ch, err := a.Chapter(labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Tasks) != 3 || len(ch.Steps) != 3 || ch.ID != "exam-mini" || len(ch.Namespaces) != 2 {
		t.Fatalf("chapter %s: %d tasks, %d steps, namespaces %v", ch.ID, len(ch.Tasks), len(ch.Steps), ch.Namespaces)
	}
	for i, dt := range a.Tasks {
		if name := dt.Params["name"]; name != "" && !strings.Contains(ch.Tasks[i].Checks[0].Message, name) {
			t.Errorf("task %s drew %q but its check says %q", dt.Task.ID, name, ch.Tasks[i].Checks[0].Message)
		}
		if ch.Tasks[i].Points != dt.Task.Weight {
			t.Errorf("task %s has %d points, want its weight %d", dt.Task.ID, ch.Tasks[i].Points, dt.Task.Weight)
		}
	}
}

// TestBadBanksAreRefused: each problem is named with its file, line and task.
func TestBadBanksAreRefused(t *testing.T) {
	t.Parallel()
	exam := "id: x\ntitle: X\nminutes: 30\npass_mark: 60\ndraw: 1\nnamespaces: [web]\ndomains:\n  - {id: a, title: A, weight: 100}\n"
	task := func(extra string) string {
		return "tasks:\n  - id: t1\n    domain: a\n    title: T\n    text: do {{.name}}\n    params: {name: [p]}\n" + extra
	}
	check := "    checks:\n      - resource: {apiVersion: v1, kind: Pod, name: \"{{.name}}\"}\n        expect: \"true\"\n    solution: kubectl run {{.name}} --image=nginx\n"
	tests := []struct {
		name, exam, bank, want string
	}{
		{"unknown param", exam, task(strings.Replace(check, "{{.name}}\"}", "{{.nmae}}\"}", 1)), `map has no entry for key "nmae"`},
		{"bad check", exam, task(strings.Replace(check, `expect: "true"`, `expect: "object.spec.("`, 1)), "expect"},
		{"unknown domain", exam, strings.Replace(task(check), "domain: a", "domain: b", 1), `domain "b" is not one of`},
		{"unknown namespace", exam, task(check + "    namespace: prod\n"), `namespace "prod" is not one of`},
		{"hints", exam, task(check + "    hints: [no]\n"), "hints is not for exam tasks"},
		{"weights", strings.Replace(exam, "weight: 100", "weight: 90", 1), task(check), "add up to 90, want 100"},
		{"too few", strings.Replace(exam, "draw: 1", "draw: 2", 1), task(check), "fewer than the 2 an attempt draws"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{"01-x/exam.yaml": {Data: []byte(tt.exam)}, "01-x/bank.yaml": {Data: []byte(tt.bank)}}
			_, err := exams.Load(fsys, labs.Options{CompileCheck: grader.CompileCheck})
			var ve *exams.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v\nwant a problem containing %q", err, tt.want)
			}
		})
	}
}
