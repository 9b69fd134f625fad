package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing/fstest"

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
	f.StringVar(&only, "exam", "", "only this exam (the others are not even loaded)")
	if sub == "test" {
		f.IntVar(&variants, "variants", 3, "param variants to prove each bank task with")
	}
	if err := f.parse(args[1:], stdout); err != nil {
		return err
	}
	opts := labs.Options{CompileCheck: grader.CompileCheck}
	fsys, err := examsFS(exams.Bundled(), only)
	if err != nil {
		return err
	}
	list, err := exams.Load(fsys, opts)
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
	if tested == 0 {
		return errors.New("exams test: no exam to prove")
	}
	return labsTest(ctx, source, chapters, labsTestConfig{Sandbox: "namespaced"}, stdout, stderr)
}

// examsFS is the exams' file system, or just the folder of exam only
// (NN-only), so one exam is worked on while another is not yet valid.
func examsFS(fsys fs.FS, only string) (fs.FS, error) {
	if only == "" {
		return fsys, nil
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) < 4 || e.Name()[3:] != only {
			continue
		}
		sub := fstest.MapFS{}
		err := fs.WalkDir(fsys, e.Name(), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			sub[p] = &fstest.MapFile{Data: data}
			return err
		})
		return sub, err
	}
	return nil, fmt.Errorf("no exam folder NN-%s", only)
}
