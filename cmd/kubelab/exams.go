package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/labs/exams"
)

// drawnChapters are the chapters of the draws being proven.
type drawnChapters map[string]*labs.Chapter

func (d drawnChapters) Chapter(id string) (*labs.Chapter, error) {
	if ch, ok := d[id]; ok {
		return ch, nil
	}
	return nil, fmt.Errorf("chapter %s: %w", id, labs.ErrNotFound)
}

// examsCmd validates the bundled exams, and with test proves every bank
// task as `labs test` proves a chapter's (fails first, the reference
// solution typed into a jailed shell, then passes): the whole bank in one
// sandbox, once per variant of the params (the first value of each, the
// last, then each other value), so tasks that clash when drawn together
// fail too. Exams are graded on the simulated cluster.
func examsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "test") {
		return errors.New("usage: kubelab exams validate | kubelab exams test [--exam id] [--variants n]")
	}
	sub := args[0]
	var only string
	var variants int
	f := newEnvFlags("exams "+sub, getenv)
	if sub == "test" {
		f.StringVar(&only, "exam", "", "test only this exam")
		f.IntVar(&variants, "variants", 3, "param variants to prove each bank task with")
	}
	if err := f.parse(args[1:], stdout); err != nil {
		return err
	}
	opts := labs.Options{CompileCheck: grader.CompileCheck}
	list, err := exams.Load(exams.Bundled(), opts)
	if err != nil {
		return fmt.Errorf("invalid exams:\n%w", err)
	}
	for _, ex := range list {
		fmt.Fprintf(stdout, "exam %s: %d tasks in the bank, %d drawn, %d min, pass mark %d%%: valid\n", ex.ID, len(ex.Bank), ex.Draw, ex.Minutes, ex.PassMark)
	}
	if sub == "validate" {
		return nil
	}
	// One chapter per exam and variant, all proven in one run (the
	// simulated cluster starts once per process), each in its own sandbox.
	source := drawnChapters{}
	var chapters []*labs.Chapter
	for _, ex := range list {
		if only != "" && ex.ID != only {
			continue
		}
		for k := range max(variants, 1) {
			ch, err := ex.Every(k).ChapterAs(fmt.Sprintf("%s-v%d", ex.ChapterID(), k+1), opts)
			if err != nil {
				return fmt.Errorf("exam %s, variant %d: %w", ex.ID, k+1, err)
			}
			source[ch.ID] = ch
			chapters = append(chapters, ch)
		}
	}
	tested := len(chapters)
	if only != "" && tested == 0 {
		return fmt.Errorf("exams test: no exam %q", only)
	}
	return labsTest(ctx, source, chapters, labsTestConfig{Sandbox: "namespaced"}, stdout, stderr)
}
