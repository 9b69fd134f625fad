package labs_test

import (
	"testing"

	"github.com/kubelab/kubelab/labs"
)

// TestBundled loads the chapters shipped in the binary. Check expressions are
// compiled by the grader's own test of the bundle; here CompileCheck is nil.
func TestBundled(t *testing.T) {
	t.Parallel()
	cat, err := labs.Load(labs.Bundled(), labs.Options{})
	if err != nil {
		t.Fatalf("Load(Bundled()):\n%v", err)
	}
	if len(cat.Chapters()) == 0 {
		t.Fatal("Bundled() has no chapters")
	}
	for _, ch := range cat.Chapters() {
		for _, st := range ch.Steps {
			if _, err := cat.StepHTML(ch.ID, st.ID); err != nil {
				t.Errorf("StepHTML(%s, %s): %v", ch.ID, st.ID, err)
			}
		}
		for _, task := range ch.Tasks {
			if _, err := cat.TaskHTML(ch.ID, task.ID); err != nil {
				t.Errorf("TaskHTML(%s, %s): %v", ch.ID, task.ID, err)
			}
		}
	}
}
