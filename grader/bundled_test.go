package grader_test

import (
	"testing"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
)

// TestBundledChecksCompile loads the chapters shipped in the binary with the
// grader's compiler, as `kubelab serve` does.
func TestBundledChecksCompile(t *testing.T) {
	t.Parallel()
	cat, err := labs.Load(labs.Bundled(), labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		t.Fatalf("Load(Bundled()):\n%v", err)
	}
	for _, ch := range cat.Chapters() {
		if _, err := grader.Compile(ch); err != nil {
			t.Errorf("Compile(%s): %v", ch.ID, err)
		}
	}
}
