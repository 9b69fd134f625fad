package labs_test

import (
	"errors"
	"flag"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/kubelab/kubelab/labs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// loadGood loads testdata/good, the representative chapters.
func loadGood(t testing.TB) *labs.Catalog {
	t.Helper()
	cat, err := labs.Load(os.DirFS("testdata/good"), labs.Options{})
	if err != nil {
		t.Fatalf("Load(testdata/good): %v", err)
	}
	return cat
}

// golden compares got with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read golden file (run go test ./labs -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	cat := loadGood(t)
	tests := []struct {
		name   string
		render func() (string, error)
	}{
		{"demo-01-intro.html", func() (string, error) {
			h, err := cat.StepHTML("demo", "01-intro")
			return string(h), err
		}},
		{"demo-02-tasks.html", func() (string, error) {
			h, err := cat.StepHTML("demo", "02-tasks")
			return string(h), err
		}},
		{"demo-task-hello-pod.html", func() (string, error) {
			v, err := cat.TaskHTML("demo", "hello-pod")
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for _, h := range v.Hints {
				b.WriteString(string(h))
			}
			b.WriteString(string(v.Solution))
			return b.String(), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.render()
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			golden(t, tt.name, got)
		})
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	cat := loadGood(t)

	var ids []string
	for _, ch := range cat.Chapters() {
		ids = append(ids, ch.ID)
	}
	if diff := cmp.Diff([]string{"demo", "second"}, ids); diff != "" {
		t.Errorf("Chapters() ids mismatch (-want +got):\n%s", diff)
	}

	ch, err := cat.Chapter("demo")
	if err != nil {
		t.Fatalf("Chapter(demo): %v", err)
	}
	three := 3
	want := &labs.Chapter{
		ID: "demo", Dir: "01-demo", Title: "A demo chapter",
		Summary: "Everything the renderer supports, in one place.",
		Order:   1, Minutes: 20, Size: labs.SizeMedium, Sandbox: labs.SandboxNamespace,
		Namespaces: []string{"dev", "prod"},
		Steps: []*labs.Step{
			{ID: "01-intro", Title: "Meet the kubectl tool", File: "01-demo/01-intro.md"},
			{ID: "02-tasks", Title: "Try it yourself", File: "01-demo/02-tasks.md"},
		},
		Tasks: []*labs.Task{
			{
				ID: "hello-pod", Step: "01-intro", Title: "Run a Pod named hello from nginx:1.27", Points: 2,
				Checks: []labs.Check{{
					Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "hello"},
					Match:    labs.MatchAll,
					Expect:   "object.spec.containers.exists(c, c.image == 'nginx:1.27')",
					Actual:   "object.spec.containers.map(c, c.image)",
					Message:  "Pod hello should run image nginx:1.27",
					File:     "01-demo/tasks.yaml", Line: 7,
				}},
				Hints:    []string{"Try `kubectl run --help`.", "The image flag:\n\n```run\nkubectl run hello --image=nginx:1.27\n```\n"},
				Solution: "kubectl run hello --image=nginx:1.27",
				File:     "01-demo/tasks.yaml", Line: 2,
			},
			{
				ID: "three-web", Step: "02-tasks", Title: "Label three Pods app=web in dev", Points: 1,
				Setup: "kubectl create deployment broken --image=nginx:does-not-exist\n",
				Checks: []labs.Check{
					{
						Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "app=web", Namespace: "dev"},
						Match:    labs.MatchCount, Min: &three, Max: &three,
						File: "01-demo/tasks.yaml", Line: 26,
					},
					{
						Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment"},
						Match:    labs.MatchAny, Expect: "object.spec.replicas >= 1",
						File: "01-demo/tasks.yaml", Line: 30,
					},
				},
				Solution: "for i in 1 2 3; do kubectl -n \"$DEV\" run web-$i --image=nginx:1.27 -l app=web; done\n",
				File:     "01-demo/tasks.yaml", Line: 20,
			},
			{
				ID: "final", Step: "02-tasks", Title: "The challenge", Points: 1, Challenge: true,
				Checks: []labs.Check{{
					Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "final"},
					Match:    labs.MatchAll, File: "01-demo/tasks.yaml", Line: 40,
				}},
				Solution: "kubectl create configmap final",
				File:     "01-demo/tasks.yaml", Line: 35,
			},
		},
	}
	if diff := cmp.Diff(want, ch, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Markdown"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("Chapter(demo) mismatch (-want +got):\n%s", diff)
	}

	hints, err := cat.HintsHTML("demo", "hello-pod")
	if err != nil {
		t.Fatalf("HintsHTML: %v", err)
	}
	if len(hints) != 2 || hints[0] != "<p>Try <code>kubectl run --help</code>.</p>\n" {
		t.Errorf("HintsHTML(demo, hello-pod) = %q", hints)
	}
	if hints, err := cat.HintsHTML("second", "one"); err != nil || hints == nil || len(hints) != 0 {
		t.Errorf("HintsHTML(second, one) = %#v, %v; want an empty non-nil slice", hints, err)
	}

	notFound := []struct {
		name string
		call func() error
	}{
		{"chapter", func() error { _, err := cat.Chapter("nope"); return err }},
		{"step", func() error { _, err := cat.StepHTML("demo", "03-nope"); return err }},
		{"step of unknown chapter", func() error { _, err := cat.StepHTML("nope", "01-intro"); return err }},
		{"task", func() error { _, err := cat.TaskHTML("demo", "nope"); return err }},
		{"task", func() error { _, err := cat.Task("second", "hello-pod"); return err }},
		{"hints", func() error { _, err := cat.HintsHTML("demo", "nope"); return err }},
	}
	for _, tt := range notFound {
		if err := tt.call(); !errors.Is(err, labs.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", tt.name, err)
		}
	}
}

func TestAsset(t *testing.T) {
	t.Parallel()
	cat := loadGood(t)
	tests := []struct {
		chapter, name string
		wantType      string // "" means ErrNotFound
	}{
		{"demo", "images/pod.png", "image/png"},
		{"second", "images/pod.png", ""},
		{"nope", "images/pod.png", ""},
		{"demo", "tasks.yaml", ""},
		{"demo", "chapter.yaml", ""},
		{"demo", "01-intro.md", ""},
		{"demo", "../02-second/chapter.yaml", ""},
		{"demo", "images/../images/pod.png", ""},
		{"demo", "/images/pod.png", ""},
		{"demo", "images", ""},
		{"demo", "", ""},
		{"demo", "images/missing.png", ""},
	}
	for _, tt := range tests {
		t.Run(tt.chapter+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			data, ctype, err := cat.Asset(tt.chapter, tt.name)
			if tt.wantType == "" {
				if !errors.Is(err, labs.ErrNotFound) {
					t.Fatalf("Asset: got %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Asset: %v", err)
			}
			if ctype != tt.wantType || !strings.HasPrefix(string(data), "\x89PNG") {
				t.Errorf("Asset: got %q with %d bytes, want %s", ctype, len(data), tt.wantType)
			}
		})
	}
}

// TestXSS puts script tags, event handlers and javascript: links in a lesson
// and a hint and checks none reaches the HTML as markup.
func TestXSS(t *testing.T) {
	t.Parallel()
	evil := "# Title <script>alert(1)</script>\n\n" +
		"<script>alert(2)</script>\n\n" +
		"<img src=x onerror=alert(3)>\n\n" +
		"Inline <b onclick=\"alert(4)\">bold</b> and <a href=\"javascript:alert(5)\">raw link</a>.\n\n" +
		"[js](javascript:alert(6)) [JS](JaVaScRiPt:alert(7)) [vb](vbscript:msgbox(8)) " +
		"[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg5KTwvc2NyaXB0Pg==) [file](file:///etc/passwd)\n\n" +
		"<javascript:alert(10)>\n\n" +
		"[ref][r]\n\n[r]: javascript:alert(11)\n\n" +
		"[title](https://example.com \"\\\" onmouseover=\\\"alert(12)\")\n\n" +
		"```\"><script>alert(13)</script>\n</code></pre><script>alert(14)</script>\n```\n\n" +
		"> [!NOTE]\n> <iframe src=\"https://example.com\"></iframe>\n\n" +
		"| a |\n|---|\n| <svg onload=alert(15)> |\n"
	fsys := labFS(map[string]string{
		"01-pods/01-first.md": evil,
		"01-pods/tasks.yaml": `tasks:
  - id: hello
    step: 01-first
    title: Hello
    checks:
      - resource: {apiVersion: v1, kind: Pod, name: hello}
    hints:
      - "<script>alert(16)</script> [x](javascript:alert(17))"
    solution: "</code></pre><script>alert(18)</script>"
`,
	})
	cat, err := labs.Load(fsys, labs.Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	step, err := cat.StepHTML("pods", "01-first")
	if err != nil {
		t.Fatalf("StepHTML: %v", err)
	}
	task, err := cat.TaskHTML("pods", "hello")
	if err != nil {
		t.Fatalf("TaskHTML: %v", err)
	}
	for name, h := range map[string]template.HTML{"step": step, "hint": task.Hints[0], "solution": task.Solution} {
		for _, bad := range unsafeMarkup(t, string(h)) {
			t.Errorf("%s: unsafe markup %s in:\n%s", name, bad, h)
		}
	}
	// The text survives, escaped: the learner still sees what was written.
	if !strings.Contains(string(task.Solution), "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;") {
		t.Errorf("solution text was not escaped as text:\n%s", task.Solution)
	}

	// Images are never rendered from a dangerous URL: the loader rejects any
	// image that is not a file of the chapter folder.
	_, err = labs.Load(labFS(map[string]string{"01-pods/01-first.md": "# T\n\n![x](javascript:alert(1))\n"}), labs.Options{})
	if err == nil || !strings.Contains(err.Error(), `image "javascript:alert(1)" must be a relative path`) {
		t.Errorf("javascript: image: got %v, want a validation problem", err)
	}
}

// unsafeMarkup tokenizes HTML and lists elements and attributes that could
// run script or load foreign content.
func unsafeMarkup(t *testing.T, s string) []string {
	t.Helper()
	var bad []string
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return bad
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "svg", "object", "embed", "style", "b":
				bad = append(bad, "<"+tok.Data+">")
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				switch {
				case strings.HasPrefix(a.Key, "on"), a.Key == "style":
					bad = append(bad, a.Key+"=")
				case (a.Key == "href" || a.Key == "src") && (strings.HasPrefix(v, "javascript:") ||
					strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "file:")):
					bad = append(bad, a.Key+"="+a.Val)
				}
			}
		}
	}
}

// TestStepHTMLConcurrent renders from many goroutines at once (run with -race).
func TestStepHTMLConcurrent(t *testing.T) {
	t.Parallel()
	cat := loadGood(t)
	want, err := loadGood(t).StepHTML("demo", "01-intro")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]template.HTML, 16)
	for i := range got {
		wg.Go(func() {
			h, err := cat.StepHTML("demo", "01-intro")
			if err != nil {
				t.Errorf("StepHTML: %v", err)
			}
			_, _ = cat.TaskHTML("demo", "hello-pod")
			got[i] = h
		})
	}
	wg.Wait()
	for i, h := range got {
		if h != want {
			t.Errorf("goroutine %d got different HTML", i)
		}
	}
}

func TestHighlightCSS(t *testing.T) {
	t.Parallel()
	css := loadGood(t).HighlightCSS()
	for _, want := range []string{".chroma .nt {", `[data-theme="dark"] .chroma .nt {`, "@media (prefers-color-scheme: dark)", `:root:not([data-theme="light"]) .chroma {`} {
		if !strings.Contains(css, want) {
			t.Errorf("HighlightCSS lacks %q:\n%s", want, css)
		}
	}
	if strings.Contains(css, `"] [data-theme`) || strings.Contains(css, `) :root`) {
		t.Errorf("HighlightCSS scopes a selector twice:\n%s", css)
	}
}

// TestValidationErrorFormat checks the one-problem-per-line contract.
func TestValidationErrorFormat(t *testing.T) {
	t.Parallel()
	err := &labs.ValidationError{Problems: []labs.Problem{
		{File: "02-pods/tasks.yaml", Line: 14, Message: `task "hello" names missing step "03-x"`},
		{File: "02-pods", Message: "missing tasks.yaml"},
	}}
	want := "02-pods/tasks.yaml:14: task \"hello\" names missing step \"03-x\"\n02-pods: missing tasks.yaml"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Error() mismatch (-want +got):\n%s", diff)
	}
}

// FuzzStepHTML checks that no Markdown input yields script-capable markup.
// `go test ./labs` runs the seeds; `go test ./labs -fuzz FuzzStepHTML` explores.
func FuzzStepHTML(f *testing.F) {
	for _, seed := range []string{
		"# T\n\n<script>alert(1)</script>",
		"# T\n\n[x](javascript:alert(1))",
		"# T\n\n> [!NOTE]\n> <img src=x onerror=alert(1)>",
		"# T\n\n```run\n</code><script>\n```",
		"# T\n\n| a |\n|---|\n| <svg onload=x> |",
		"# <a href=\"javascript:x\">T</a>",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, md string) {
		cat, err := labs.Load(labFS(map[string]string{"01-pods/01-first.md": md}), labs.Options{})
		if err != nil {
			return // invalid lessons never render
		}
		h, err := cat.StepHTML("pods", "01-first")
		if err != nil {
			t.Fatalf("StepHTML: %v", err)
		}
		if bad := unsafeMarkup(t, string(h)); len(bad) > 0 {
			t.Errorf("unsafe markup %v from %q:\n%s", bad, md, h)
		}
	})
}
