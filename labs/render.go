package labs

import (
	"bytes"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Chroma styles behind HighlightCSS: light by default, dark for the dark theme.
const (
	lightStyle = "github"
	darkStyle  = "doom-one"
)

// newMarkdown builds the one goldmark instance used for validation and
// rendering. It keeps goldmark's safe default (raw HTML omitted, dangerous
// link targets dropped): lessons are trusted, but then no reviewer has to
// think about XSS.
func newMarkdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough,
			extension.Linkify,
			extension.TaskList,
		),
		goldmark.WithParserOptions(
			parser.WithAutoHeadingID(),
			parser.WithASTTransformers(util.Prioritized(lessonTransformer{}, 100)),
		),
		goldmark.WithRendererOptions(
			renderer.WithNodeRenderers(
				util.Prioritized(codeRenderer{formatter: newFormatter()}, 100),
				util.Prioritized(admonitionRenderer{}, 100),
			),
		),
	)
}

func newFormatter() *chromahtml.Formatter {
	// Classes, not inline styles: the page's CSP forbids style attributes.
	return chromahtml.New(chromahtml.WithClasses(true), chromahtml.PreventSurroundingPre(true))
}

// lessonContext is what the transformer needs to know about the step being
// parsed; it travels in the goldmark parser context.
type lessonContext struct {
	chapterID string
	file      string // step path relative to the FS root, for problems
	// imageExists reports whether a cleaned chapter-relative path is a file
	// of the chapter; nil skips the check (rendering after validation).
	imageExists func(name string) bool
	problems    *problems // nil when rendering
	title       string    // filled by the transformer: first level-1 heading
	hasTitle    bool
}

var lessonKey = parser.NewContextKey()

// Admonition kinds and their titles, keyed by the marker in "> [!MARKER]".
var admonitionKinds = map[string]string{
	"NOTE":         "Note",
	"TIP":          "Tip",
	"WARNING":      "Warning",
	"REAL-CLUSTER": "Needs a real cluster",
}

var admonitionMarker = regexp.MustCompile(`^\[!([A-Za-z-]+)\]\s*$`)

// kindAdmonition is the AST node kind of a GitHub-style admonition.
var kindAdmonition = ast.NewNodeKind("Admonition")

// admonitionNode replaces a block quote that starts with "[!MARKER]".
type admonitionNode struct {
	ast.BaseBlock
	class string // CSS class: note, tip, warning, real-cluster
	title string
}

func (n *admonitionNode) Kind() ast.NodeKind { return kindAdmonition }

func (n *admonitionNode) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Class": n.class}, nil)
}

// lessonTransformer rewrites a parsed step: admonitions, image sources, and
// code block checks. With a problems sink in the context it also validates.
type lessonTransformer struct{}

func (lessonTransformer) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	lc, _ := pc.Get(lessonKey).(*lessonContext)
	if lc == nil {
		lc = &lessonContext{}
	}
	source := reader.Source()
	var quotes []*ast.Blockquote
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			if n.Level == 1 && !lc.hasTitle {
				lc.hasTitle = true
				lc.title = strings.TrimSpace(plainText(n, source))
			}
		case *ast.Blockquote:
			quotes = append(quotes, n)
		case *ast.Image:
			rewriteImage(n, source, lc)
		case *ast.FencedCodeBlock:
			if lc.problems != nil {
				info := codeInfo(n, source)
				_, hasFile := codeFile(info)
				if strings.HasPrefix(info, "run ") && info != "run bash" && !hasFile {
					lc.problems.add(lc.file, lineOf(source, n), "run blocks are shell: use ```run or ```run bash, not ```%s", info)
				}
				if hasFile && strings.HasPrefix(info, "run") {
					lc.problems.add(lc.file, lineOf(source, n), "file= belongs on a block to save (```yaml file=pod.yaml), not on a run block")
				} else if name, ok := codeFile(info); ok && !saveName.MatchString(name) {
					lc.problems.add(lc.file, lineOf(source, n), "file=%q: name a file in the learner's home with letters, digits, '.', '_', '-' and '/' (such as file=pod.yaml or file=manifests/pod.yaml), not starting with '.' and without '..'", name)
				}
			}
		}
		return ast.WalkContinue, nil
	})
	// Replace block quotes after the walk: changing the tree while walking it is unsafe.
	for _, q := range quotes {
		transformAdmonition(q, source, lc)
	}
}

// transformAdmonition turns "> [!NOTE]\n> text" into an admonitionNode.
func transformAdmonition(q *ast.Blockquote, source []byte, lc *lessonContext) {
	para, ok := q.FirstChild().(*ast.Paragraph)
	if !ok || para.Lines().Len() == 0 {
		return
	}
	first := para.Lines().At(0)
	m := admonitionMarker.FindSubmatch(bytes.TrimSpace(first.Value(source)))
	if m == nil {
		return
	}
	marker := strings.ToUpper(string(m[1]))
	title, known := admonitionKinds[marker]
	if !known {
		if lc.problems != nil {
			lc.problems.add(lc.file, lineOf(source, q), "unknown admonition [!%s] (use NOTE, TIP, WARNING or REAL-CLUSTER)", m[1])
		}
		return
	}
	// Drop the inline nodes of the marker line (and the line break after it).
	for c := para.FirstChild(); c != nil; {
		next := c.NextSibling()
		t, isText := c.(*ast.Text)
		if !isText || t.Segment.Start >= first.Stop {
			break
		}
		para.RemoveChild(para, c)
		c = next
	}
	lines := para.Lines()
	rest := text.NewSegments()
	for i := 1; i < lines.Len(); i++ {
		rest.Append(lines.At(i))
	}
	para.SetLines(rest)

	adm := &admonitionNode{class: strings.ToLower(marker), title: title}
	for c := q.FirstChild(); c != nil; {
		next := c.NextSibling()
		if c == para && para.ChildCount() == 0 {
			c = next
			continue
		}
		adm.AppendChild(adm, c) // AppendChild detaches c from q
		c = next
	}
	parent := q.Parent()
	parent.ReplaceChild(parent, q, adm)
}

// rewriteImage points a relative image at the chapter's asset route, and
// reports images that are remote, absolute, escape the folder or are missing.
func rewriteImage(img *ast.Image, source []byte, lc *lessonContext) {
	dest := string(img.Destination)
	name, ok := imagePath(dest)
	if !ok {
		if lc.problems != nil {
			lc.problems.add(lc.file, lineOf(source, img), "image %q must be a relative path to a file in the chapter folder", dest)
		}
		return
	}
	if lc.imageExists != nil && !lc.imageExists(name) {
		if lc.problems != nil {
			lc.problems.add(lc.file, lineOf(source, img), "image %q not found in the chapter folder", dest)
		}
		return
	}
	img.Destination = []byte("/chapters/" + lc.chapterID + "/assets/" + (&url.URL{Path: name}).EscapedPath())
}

// imagePath returns the cleaned chapter-relative path of an image
// destination, or false if it is not a plain relative path inside the folder.
func imagePath(dest string) (string, bool) {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.Path == "" || strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	for _, part := range strings.Split(u.Path, "/") {
		if part == ".." {
			return "", false
		}
	}
	return path.Clean(u.Path), true
}

// plainText concatenates the text of an inline subtree (for heading titles).
func plainText(n ast.Node, source []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(source))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// lineOf returns the 1-based source line where a node starts, from the first
// segment found in it or its ancestors' lines.
func lineOf(source []byte, n ast.Node) int {
	offset := -1
	if fc, ok := n.(*ast.FencedCodeBlock); ok && fc.Info != nil {
		offset = fc.Info.Segment.Start
	}
	if offset < 0 {
		_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
			if t, ok := c.(*ast.Text); ok && entering {
				offset = t.Segment.Start
				return ast.WalkStop, nil
			}
			if c.Type() == ast.TypeBlock && entering && c.Lines().Len() > 0 {
				offset = c.Lines().At(0).Start
				return ast.WalkStop, nil
			}
			return ast.WalkContinue, nil
		})
	}
	for p := n; offset < 0 && p != nil; p = p.Parent() {
		if p.Type() == ast.TypeBlock && p.Lines().Len() > 0 {
			offset = p.Lines().At(0).Start
		}
	}
	if offset < 0 {
		return 1
	}
	return 1 + bytes.Count(source[:min(offset, len(source))], []byte("\n"))
}

// codeInfo returns a fenced block's info string, trimmed ("" for indented blocks).
func codeInfo(n ast.Node, source []byte) string {
	fc, ok := n.(*ast.FencedCodeBlock)
	if !ok || fc.Info == nil {
		return ""
	}
	return strings.Join(strings.Fields(string(fc.Info.Segment.Value(source))), " ")
}

var languageName = regexp.MustCompile(`^[A-Za-z0-9_+.#-]+$`)

// codeFile is the file a block offers to save, from file=NAME in its info
// string ("yaml file=pod.yaml").
func codeFile(info string) (string, bool) {
	fields := strings.Fields(info)
	if len(fields) > 0 {
		fields = fields[1:] // the language
	}
	for _, f := range fields {
		if name, ok := strings.CutPrefix(f, "file="); ok {
			return name, true
		}
	}
	return "", false
}

// saveName is a file name a block may save to: relative, in the home, no
// hidden parts.
var saveName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$`)

// codeKind maps an info string to the language class and the block's action.
func codeKind(info string) (lang, action string) {
	if info == "run" || strings.HasPrefix(info, "run ") {
		return "bash", "run"
	}
	lang, _, _ = strings.Cut(info, " ")
	if !languageName.MatchString(lang) {
		lang = "text"
	}
	return lang, "copy"
}

// codeRenderer renders every code block as the UI's contract:
// <div class="codeblock" data-action="run|copy"><pre class="chroma"><code class="language-…">.
type codeRenderer struct {
	formatter *chromahtml.Formatter
}

func (r codeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, r.render)
	reg.Register(ast.KindCodeBlock, r.render)
}

func (r codeRenderer) render(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	info := codeInfo(n, source)
	lang, action := codeKind(info)
	file, _ := codeFile(info)
	if !saveName.MatchString(file) {
		file = "" // labs validate names the problem; the block stays copy-only
	}
	var code bytes.Buffer
	lines := n.Lines()
	for i := range lines.Len() {
		seg := lines.At(i)
		code.Write(seg.Value(source))
	}
	if err := r.write(w, lang, action, file, code.String()); err != nil {
		return ast.WalkStop, err
	}
	return ast.WalkSkipChildren, nil
}

func (r codeRenderer) write(w util.BufWriter, lang, action, file, code string) error {
	fmt.Fprintf(w, `<div class="codeblock" data-action="%s"`, action)
	if file != "" && action != "run" {
		fmt.Fprintf(w, ` data-file="%s"`, file) // saveName admits no character HTML escapes
	}
	fmt.Fprintf(w, `><pre class="chroma"><code class="language-%s">`, util.EscapeHTML([]byte(lang)))
	var tokens []chroma.Token
	for _, part := range heredocParts(lang, code) {
		lexer := lexers.Get(part.lang)
		if lexer == nil {
			lexer = lexers.Fallback
		}
		it, err := chroma.Coalesce(lexer).Tokenise(nil, part.code)
		if err != nil {
			return fmt.Errorf("highlight %s: %w", part.lang, err)
		}
		tokens = append(tokens, it.Tokens()...)
	}
	if err := r.formatter.Format(w, styles.Get(lightStyle), chroma.Literator(tokens...)); err != nil {
		return fmt.Errorf("highlight %s: %w", lang, err)
	}
	_, err := w.WriteString("</code></pre></div>\n")
	return err
}

// codePart is a piece of a code block in one language.
type codePart struct{ lang, code string }

// heredocStart finds a here-document's delimiter: <<EOF, <<'EOF', <<-"EOF".
var heredocStart = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// heredocParts splits a shell block so that the body of each
// here-document is highlighted as what it is (a manifest: YAML), not as
// one long shell string.
func heredocParts(lang, code string) []codePart {
	if lang != "bash" {
		return []codePart{{lang, code}}
	}
	var parts []codePart
	var shell, body strings.Builder
	delim := ""
	for line := range strings.Lines(code) {
		switch {
		case delim == "":
			shell.WriteString(line)
			if m := heredocStart.FindStringSubmatch(line); m != nil {
				delim = m[1]
				parts = append(parts, codePart{"bash", shell.String()})
				shell.Reset()
			}
		case strings.TrimSpace(line) == delim:
			parts = append(parts, codePart{"yaml", body.String()})
			body.Reset()
			shell.WriteString(line)
			delim = ""
		default:
			body.WriteString(line)
		}
	}
	if body.Len() > 0 { // an unterminated here-document
		parts = append(parts, codePart{"yaml", body.String()})
	}
	if shell.Len() > 0 {
		parts = append(parts, codePart{"bash", shell.String()})
	}
	return parts
}

// admonitionRenderer renders admonitionNode as
// <div class="admonition note"><p class="admonition-title">Note</p>…</div>.
type admonitionRenderer struct{}

func (admonitionRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(kindAdmonition, func(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		a := n.(*admonitionNode)
		if entering {
			fmt.Fprintf(w, "<div class=\"admonition %s\"><p class=\"admonition-title\">%s</p>\n", a.class, util.EscapeHTML([]byte(a.title)))
		} else {
			_, _ = w.WriteString("</div>\n")
		}
		return ast.WalkContinue, nil
	})
}

// highlightCSS builds the style sheet for the classes codeRenderer emits.
func highlightCSS() string {
	f := newFormatter()
	var light, dark bytes.Buffer
	if err := f.WriteCSS(&light, styles.Get(lightStyle)); err != nil {
		panic(fmt.Sprintf("chroma css %s: %v", lightStyle, err)) // writes to a buffer cannot fail
	}
	if err := f.WriteCSS(&dark, styles.Get(darkStyle)); err != nil {
		panic(fmt.Sprintf("chroma css %s: %v", darkStyle, err))
	}
	var b strings.Builder
	b.WriteString("/* kubelab code highlighting (chroma " + lightStyle + " / " + darkStyle + ") */\n")
	b.Write(light.Bytes())
	// Each WriteCSS line is "/* Token */ selector { … }": scope the selector.
	darkRules := func(scope string) string {
		var out strings.Builder
		for line := range strings.Lines(dark.String()) {
			if i := strings.Index(line, "*/ "); i >= 0 {
				line = line[:i+3] + scope + " " + line[i+3:]
			}
			out.WriteString(line)
		}
		return out.String()
	}
	b.WriteString(darkRules(`[data-theme="dark"]`))
	b.WriteString("@media (prefers-color-scheme: dark) {\n")
	b.WriteString(darkRules(`:root:not([data-theme="light"])`))
	b.WriteString("}\n")
	return b.String()
}
