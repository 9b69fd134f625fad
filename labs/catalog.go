package labs

import (
	"bufio"
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// Catalog is a validated set of chapters. Its methods are safe for
// concurrent use; rendered HTML is computed once per step or task and cached.
type Catalog struct {
	fsys     fs.FS
	md       goldmark.Markdown
	chapters []*Chapter // by Order
	byID     map[string]*chapterEntry
}

type chapterEntry struct {
	ch    *Chapter
	steps map[string]*cached[template.HTML]
	tasks map[string]*cached[*taskRender]
}

// taskRender is a task's cached rendering.
type taskRender struct {
	hints []template.HTML // bodies, without the <details> wrapper
	view  *TaskView
}

// cached holds one lazily rendered value.
type cached[T any] struct {
	once sync.Once
	val  T
	err  error
}

func (c *cached[T]) get(render func() (T, error)) (T, error) {
	c.once.Do(func() { c.val, c.err = render() })
	return c.val, c.err
}

// TaskView is a task's hints and solution rendered to HTML, each a
// collapsible <details> element (see the HTML contract in labs/README.md).
type TaskView struct {
	Hints    []template.HTML // <details class="hint"><summary>Hint N</summary>…</details>
	Solution template.HTML   // <details class="solution"><summary>Solution</summary>…run block…</details>
}

func newCatalog(fsys fs.FS, chapters []*Chapter) *Catalog {
	c := &Catalog{fsys: fsys, md: newMarkdown(), chapters: chapters, byID: map[string]*chapterEntry{}}
	for _, ch := range chapters {
		e := &chapterEntry{ch: ch, steps: map[string]*cached[template.HTML]{}, tasks: map[string]*cached[*taskRender]{}}
		for _, st := range ch.Steps {
			e.steps[st.ID] = &cached[template.HTML]{}
		}
		for _, t := range ch.Tasks {
			e.tasks[t.ID] = &cached[*taskRender]{}
		}
		c.byID[ch.ID] = e
	}
	return c
}

// Chapters returns every chapter, sorted by Order. The slice is a copy; the
// chapters themselves are shared and must not be modified.
func (c *Catalog) Chapters() []*Chapter {
	out := make([]*Chapter, len(c.chapters))
	copy(out, c.chapters)
	return out
}

// Chapter returns the chapter with the given id, or an error wrapping ErrNotFound.
func (c *Catalog) Chapter(id string) (*Chapter, error) {
	e, err := c.entry(id)
	if err != nil {
		return nil, err
	}
	return e.ch, nil
}

func (c *Catalog) entry(id string) (*chapterEntry, error) {
	e, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("chapter %q: %w", id, ErrNotFound)
	}
	return e, nil
}

// Step returns one step of a chapter, or an error wrapping ErrNotFound.
func (c *Catalog) Step(chapterID, stepID string) (*Step, error) {
	e, err := c.entry(chapterID)
	if err != nil {
		return nil, err
	}
	for _, st := range e.ch.Steps {
		if st.ID == stepID {
			return st, nil
		}
	}
	return nil, fmt.Errorf("chapter %q step %q: %w", chapterID, stepID, ErrNotFound)
}

// Task returns one task of a chapter, or an error wrapping ErrNotFound.
func (c *Catalog) Task(chapterID, taskID string) (*Task, error) {
	e, err := c.entry(chapterID)
	if err != nil {
		return nil, err
	}
	for _, t := range e.ch.Tasks {
		if t.ID == taskID {
			return t, nil
		}
	}
	return nil, fmt.Errorf("chapter %q task %q: %w", chapterID, taskID, ErrNotFound)
}

// StepHTML returns the step rendered to safe HTML (rendered on first use,
// then cached), or an error wrapping ErrNotFound.
func (c *Catalog) StepHTML(chapterID, stepID string) (template.HTML, error) {
	st, err := c.Step(chapterID, stepID)
	if err != nil {
		return "", err
	}
	return c.byID[chapterID].steps[stepID].get(func() (template.HTML, error) {
		return c.render(chapterID, st.File, st.Markdown)
	})
}

// TaskHTML returns a task's hints and solution rendered to safe HTML, each
// wrapped in <details> (rendered on first use, then cached), or an error
// wrapping ErrNotFound. The solution is for learners who give up; the API
// that lists tasks must not expose it.
func (c *Catalog) TaskHTML(chapterID, taskID string) (*TaskView, error) {
	r, err := c.renderTask(chapterID, taskID)
	if err != nil {
		return nil, err
	}
	return r.view, nil
}

// HintsHTML returns a task's hints rendered to safe HTML, one element per
// hint, without a <details> wrapper (for the JSON API; never nil), or an
// error wrapping ErrNotFound.
func (c *Catalog) HintsHTML(chapterID, taskID string) ([]template.HTML, error) {
	r, err := c.renderTask(chapterID, taskID)
	if err != nil {
		return nil, err
	}
	return append([]template.HTML{}, r.hints...), nil
}

func (c *Catalog) renderTask(chapterID, taskID string) (*taskRender, error) {
	t, err := c.Task(chapterID, taskID)
	if err != nil {
		return nil, err
	}
	return c.byID[chapterID].tasks[taskID].get(func() (*taskRender, error) {
		r := &taskRender{view: &TaskView{}}
		for i, h := range t.Hints {
			body, err := c.render(chapterID, t.File, []byte(h))
			if err != nil {
				return nil, err
			}
			r.hints = append(r.hints, body)
			r.view.Hints = append(r.view.Hints, template.HTML(fmt.Sprintf(
				"<details class=\"hint\"><summary>Hint %d</summary>\n%s</details>\n", i+1, body)))
		}
		var b bytes.Buffer
		w := bufio.NewWriter(&b) // a util.BufWriter, which codeRenderer writes to
		b.WriteString("<details class=\"solution\"><summary>Solution</summary>\n")
		if err := (codeRenderer{formatter: newFormatter()}).write(w, "bash", "run", "", strings.TrimRight(t.Solution, "\n")+"\n"); err != nil {
			return nil, fmt.Errorf("render solution of task %s/%s: %w", chapterID, taskID, err)
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("render solution of task %s/%s: %w", chapterID, taskID, err)
		}
		b.WriteString("</details>\n")
		r.view.Solution = template.HTML(b.String())
		return r, nil
	})
}

// render converts Markdown to HTML; the goldmark instance is shared and safe
// for concurrent use.
func (c *Catalog) render(chapterID, file string, src []byte) (template.HTML, error) {
	pc := parser.NewContext()
	pc.Set(lessonKey, &lessonContext{chapterID: chapterID, file: file})
	doc := c.md.Parser().Parse(text.NewReader(src), parser.WithContext(pc))
	var b bytes.Buffer
	if err := c.md.Renderer().Render(&b, src, doc); err != nil {
		return "", fmt.Errorf("render %s: %w", file, err)
	}
	// The output is safe by construction: goldmark's safe mode plus our
	// renderers, which escape everything they write.
	return template.HTML(b.String()), nil //nolint:gosec // see above
}

// Asset returns an image of a chapter folder and its content type, for the
// route /chapters/{chapter}/assets/{name}. name is relative to the folder;
// only image files (png, jpg, gif, webp, svg) are served, so chapter.yaml,
// tasks.yaml (with solutions) and the Markdown sources are not. Errors wrap
// ErrNotFound for anything else.
func (c *Catalog) Asset(chapterID, name string) ([]byte, string, error) {
	e, err := c.entry(chapterID)
	if err != nil {
		return nil, "", err
	}
	notFound := fmt.Errorf("chapter %q asset %q: %w", chapterID, name, ErrNotFound)
	if !fs.ValidPath(name) || name == "." {
		return nil, "", notFound // rejects "..", absolute and unclean paths
	}
	ctype, ok := imageTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		return nil, "", notFound
	}
	// A link made after loading (the folder is read live) is refused too.
	file := path.Join(e.ch.Dir, name)
	if fi, err := fs.Lstat(c.fsys, file); err != nil || !fi.Mode().IsRegular() {
		return nil, "", notFound
	}
	data, err := fs.ReadFile(c.fsys, file)
	if err != nil {
		return nil, "", notFound
	}
	return data, ctype, nil
}

var highlightCSSOnce = sync.OnceValue(highlightCSS)

// HighlightCSS returns the style sheet for the highlighting classes in
// rendered code blocks: light by default, dark under [data-theme="dark"] or
// prefers-color-scheme: dark (unless [data-theme="light"]).
func (c *Catalog) HighlightCSS() string {
	return highlightCSSOnce()
}
