package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"golang.org/x/net/html"

	"github.com/kubelab/kubelab/labs"
)

// pageRefs are the scripts and style sheets a page references.
type pageRefs struct {
	scripts, styles []string
}

// checkCSPSafe fails the test if a page holds anything the CSP would block
// or that could run code: inline scripts or styles, style attributes, on*
// handlers, javascript: URLs. It returns the page's script and style URLs.
func checkCSPSafe(t *testing.T, name string, body []byte) pageRefs {
	t.Helper()
	var refs pageRefs
	z := html.NewTokenizer(bytes.NewReader(body))
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Errorf("%s: parse HTML: %v", name, z.Err())
			}
			return refs
		case html.TextToken:
			if inScript && strings.TrimSpace(string(z.Text())) != "" {
				t.Errorf("%s: inline script %q", name, z.Text())
			}
		case html.EndTagToken:
			if tn, _ := z.TagName(); string(tn) == "script" {
				inScript = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				attrs[key] = a.Val
				switch {
				case strings.HasPrefix(key, "on"):
					t.Errorf("%s: event handler attribute %s=%q on <%s>", name, a.Key, a.Val, tok.Data)
				case key == "style":
					t.Errorf("%s: inline style attribute %q on <%s>", name, a.Val, tok.Data)
				case key == "href" || key == "src" || key == "action" || key == "formaction":
					if v := strings.ToLower(strings.TrimSpace(a.Val)); strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:text") {
						t.Errorf("%s: script URL %s=%q on <%s>", name, a.Key, a.Val, tok.Data)
					}
				}
			}
			switch tok.Data {
			case "style":
				t.Errorf("%s: inline <style> element", name)
			case "script":
				if attrs["src"] != "" {
					refs.scripts = append(refs.scripts, attrs["src"])
				} else if attrs["type"] != "application/json" {
					t.Errorf("%s: inline <script> element", name)
				}
				inScript = attrs["src"] == "" && attrs["type"] != "application/json" && tok.Type == html.StartTagToken
			case "link":
				if attrs["rel"] == "stylesheet" {
					refs.styles = append(refs.styles, attrs["href"])
				}
			}
		}
	}
}

// firstChapter returns the id of the first chapter of the catalog.
func firstChapter(t *testing.T, c *testClient) string {
	t.Helper()
	res, body := c.do(t, "GET", "/api/v1/chapters", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list chapters: %d %s", res.StatusCode, body)
	}
	var list []chapterSummaryJSON
	mustUnmarshal(t, body, &list)
	if len(list) == 0 {
		t.Fatal("the catalog is empty")
	}
	return list[0].ID
}

// signupPageUser creates an account through the API; c keeps its login cookie.
func signupPageUser(t *testing.T, c *testClient, email, name string) *testClient {
	t.Helper()
	res, body := c.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": "correct horse battery", "name": name})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup %s: %d %s", email, res.StatusCode, body)
	}
	return c
}

func TestPages(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	anon := ts.client(t)
	user := signupPageUser(t, ts.client(t), "pages@example.com", "Grace")
	ch := firstChapter(t, anon)
	chapterPath := "/chapters/" + ch

	tests := []struct {
		name         string
		client       *testClient
		path         string
		wantStatus   int
		wantLocation string
		wantHTML     []string // substrings of the body
	}{
		{name: "home anonymous", client: anon, path: "/", wantStatus: 200,
			wantHTML: []string{"Try without an account", `href="` + chapterPath + `"`, "Log in"}},
		{name: "home logged in", client: user, path: "/", wantStatus: 200,
			wantHTML: []string{"Grace", `href="` + chapterPath + `"`, "<progress", "Log out"}},
		{name: "login", client: anon, path: "/login?next=" + url.QueryEscape(chapterPath), wantStatus: 200,
			wantHTML: []string{`id="login-form"`, `data-next="` + chapterPath + `"`}},
		{name: "login refuses a foreign next", client: anon, path: "/login?next=//evil.example/x", wantStatus: 200,
			wantHTML: []string{`id="login-form" class="form" data-next=""`}},
		{name: "signup", client: anon, path: "/signup", wantStatus: 200, wantHTML: []string{`id="signup-form"`}},
		{name: "login when logged in goes home", client: user, path: "/login", wantStatus: 303, wantLocation: "/"},
		{name: "chapter needs a login", client: anon, path: chapterPath, wantStatus: 303,
			wantLocation: "/login?next=" + url.QueryEscape(chapterPath)},
		{name: "chapter", client: user, path: chapterPath, wantStatus: 200,
			wantHTML: []string{`role="tablist"`, `class="codeblock"`, `id="start-btn"`, `id="progress"`, `class="task"`, `<dialog id="confirm-reset"`}},
		{name: "unknown chapter", client: user, path: "/chapters/no-such-chapter", wantStatus: 404, wantHTML: []string{"Page not found"}},
		{name: "account needs a login", client: anon, path: "/account", wantStatus: 303, wantLocation: "/login?next=%2Faccount"},
		{name: "account", client: user, path: "/account", wantStatus: 200, wantHTML: []string{"pages@example.com", `value="Grace"`}},
		{name: "progress needs a login", client: anon, path: "/progress", wantStatus: 303, wantLocation: "/login?next=%2Fprogress"},
		{name: "progress", client: user, path: "/progress", wantStatus: 200, wantHTML: []string{"tasks passed", `href="` + chapterPath + `"`}},
		{name: "unknown page", client: anon, path: "/no/such/page", wantStatus: 404, wantHTML: []string{"Page not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, body := tt.client.do(t, "GET", tt.path, nil)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d\n%s", tt.path, res.StatusCode, tt.wantStatus, body)
			}
			if got := res.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if res.StatusCode == http.StatusSeeOther {
				return
			}
			if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", got)
			}
			for _, want := range tt.wantHTML {
				if !bytes.Contains(body, []byte(want)) {
					t.Errorf("body lacks %q", want)
				}
			}
			refs := checkCSPSafe(t, tt.path, body)
			if len(refs.scripts) == 0 || len(refs.styles) == 0 {
				t.Errorf("page references scripts %v and styles %v, want both", refs.scripts, refs.styles)
			}
		})
	}
}

func TestPageAssetsImmutable(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := signupPageUser(t, ts.client(t), "assets@example.com", "Assets")
	_, body := c.do(t, "GET", "/chapters/"+firstChapter(t, c), nil)
	refs := checkCSPSafe(t, "chapter", body)
	urls := append(refs.scripts, refs.styles...)
	if len(urls) < 4 {
		t.Fatalf("chapter page references %v; want app.js, chapter.js, app.css, highlight.css and terminal.css", urls)
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			if !strings.HasPrefix(u, assetPrefix) {
				t.Fatalf("asset URL %q is not under %s", u, assetPrefix)
			}
			res, body := c.do(t, "GET", u, nil)
			if res.StatusCode != http.StatusOK || len(body) == 0 {
				t.Fatalf("GET %s: %d, %d bytes", u, res.StatusCode, len(body))
			}
			if got := res.Header.Get("Cache-Control"); got != immutableCache {
				t.Errorf("Cache-Control = %q, want %q", got, immutableCache)
			}
			want := "text/css"
			if strings.HasSuffix(u, ".js") {
				want = "text/javascript"
			}
			if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, want) {
				t.Errorf("Content-Type = %q, want %s", got, want)
			}
		})
	}
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	c := ts.client(t)
	_, page := c.do(t, "GET", "/", nil)
	refs := checkCSPSafe(t, "home", page)
	var appJS string
	for _, s := range refs.scripts {
		if strings.HasSuffix(s, "/static/app.js") {
			appJS = s
		}
	}
	if appJS == "" {
		t.Fatalf("home page scripts %v lack static/app.js", refs.scripts)
	}
	version := strings.Split(strings.TrimPrefix(appJS, assetPrefix), "/")[0]
	_, plain := c.raw(t, "GET", appJS, "", map[string]string{"Accept-Encoding": "identity"})

	tests := []struct {
		name        string
		path        string
		header      map[string]string
		wantStatus  int
		wantCache   string
		wantGzip    bool
		wantContent bool // the body equals app.js
	}{
		{name: "current version", path: appJS, wantStatus: 200, wantCache: immutableCache, wantContent: true},
		{name: "gzip", path: appJS, header: map[string]string{"Accept-Encoding": "gzip, br"}, wantStatus: 200, wantCache: immutableCache, wantGzip: true, wantContent: true},
		{name: "old version is served uncached", path: assetPrefix + "000000000000/static/app.js", wantStatus: 200, wantCache: "no-cache", wantContent: true},
		{name: "missing file", path: assetPrefix + version + "/static/nope.js", wantStatus: 404},
		{name: "no directory listing", path: assetPrefix + version + "/static/", wantStatus: 404},
		{name: "no directory listing without slash", path: assetPrefix + version + "/static", wantStatus: 404},
		{name: "no traversal", path: assetPrefix + version + "/static/%2e%2e/%2e%2e/go.mod", wantStatus: 404},
		{name: "no templates", path: assetPrefix + version + "/templates/layout.html", wantStatus: 404},
		{name: "favicon", path: "/favicon.ico", wantStatus: 301},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{"Accept-Encoding": "identity"}
			for k, v := range tt.header {
				h[k] = v
			}
			res, body := c.raw(t, "GET", tt.path, "", h)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: %d, want %d", tt.path, res.StatusCode, tt.wantStatus)
			}
			if tt.wantCache != "" {
				if got := res.Header.Get("Cache-Control"); got != tt.wantCache {
					t.Errorf("Cache-Control = %q, want %q", got, tt.wantCache)
				}
			}
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tt.wantGzip {
				t.Errorf("gzip encoded = %v, want %v", got, tt.wantGzip)
			}
			if tt.wantGzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantContent && !bytes.Equal(body, plain) {
				t.Errorf("body differs from app.js (%d bytes, want %d)", len(body), len(plain))
			}
		})
	}
}

func TestDisplayNameIsEscaped(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	const evil = `<img src=x onerror=alert(1)>`
	c := signupPageUser(t, ts.client(t), "evil@example.com", evil)
	for _, path := range []string{"/", "/account", "/progress", "/chapters/" + firstChapter(t, c)} {
		// Not parallel: the name changes below, after the loop.
		t.Run(path, func(t *testing.T) {
			res, body := c.do(t, "GET", path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, res.StatusCode)
			}
			if bytes.Contains(body, []byte(evil)) {
				t.Errorf("the display name appears unescaped")
			}
			if !bytes.Contains(body, []byte(`&lt;img src=x onerror=alert(1)&gt;`)) {
				t.Errorf("the display name does not appear as text")
			}
			checkCSPSafe(t, path, body)
		})
	}
	// A name changed later is escaped too.
	res, body := c.do(t, "PATCH", "/api/v1/me", map[string]string{"name": `"><script>alert(1)</script>`})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("rename: %d %s", res.StatusCode, body)
	}
	_, body = c.do(t, "GET", "/account", nil)
	if bytes.Contains(body, []byte("<script>alert(1)")) {
		t.Errorf("the new name appears unescaped")
	}
	checkCSPSafe(t, "/account after rename", body)
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/chapters/pods", "/chapters/pods"},
		{"/chapters/pods?x=1#step", "/chapters/pods?x=1#step"},
		{"", ""},
		{"chapters/pods", ""},
		{"//evil.example", ""},
		{"/\\evil.example", ""},
		{"https://evil.example/", ""},
		{"javascript:alert(1)", ""},
		{"/ok\r\nSet-Cookie: x=1", ""},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	got := []string{formatDuration(0), formatDuration(29), formatDuration(31), formatDuration(45 * 60),
		formatDuration(3600), formatDuration(3600 + 5*60), formatScore(3), formatScore(2.5), formatScore(1.33), formatScore(2.0000000596046448), initial(" ada"), initial("<x"), initial("")}
	want := []string{"0 min", "0 min", "1 min", "45 min", "1 h", "1 h 5 min", "3", "2.5", "1.3", "2", "A", "X", "?"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("formatting mismatch (-want +got):\n%s", diff)
	}
}

// newPagesServer is a Server with only what the pages of an anonymous
// visitor need (no database): the catalog from labs/testdata and assets.
func newPagesServer(t *testing.T, dev bool, assets fs.FS) *echo.Echo {
	t.Helper()
	cat, err := labs.Load(os.DirFS("../labs/testdata/good"), labs.Options{})
	if err != nil {
		t.Fatalf("load test chapters: %v", err)
	}
	s := &Server{opts: Options{Dev: dev, Assets: assets}, catalog: cat, log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	s.pageRoutes(e)
	return e
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", path, nil))
	return rec
}

func TestPagesDevModeRereads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../frontend")); err != nil {
		t.Fatal(err)
	}
	e := newPagesServer(t, true, os.DirFS(dir))

	before := get(t, e, "/login")
	if before.Code != http.StatusOK || strings.Contains(before.Body.String(), "EDITED-TEMPLATE") {
		t.Fatalf("GET /login: %d", before.Code)
	}
	oldRefs := checkCSPSafe(t, "/login", before.Body.Bytes())

	page := filepath.Join(dir, "templates", "login.html")
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, bytes.Replace(src, []byte("<h1>Log in</h1>"), []byte("<h1>EDITED-TEMPLATE</h1>"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "app.css"), []byte("/* edited */"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := get(t, e, "/login")
	if !strings.Contains(after.Body.String(), "EDITED-TEMPLATE") {
		t.Errorf("dev mode did not re-read the edited template")
	}
	newRefs := checkCSPSafe(t, "/login", after.Body.Bytes())
	if cmp.Equal(oldRefs.styles, newRefs.styles) {
		t.Errorf("style sheet URL %v did not change after an edit", newRefs.styles)
	}
	css := get(t, e, newRefs.styles[0])
	if css.Body.String() != "/* edited */" {
		t.Errorf("GET %s = %q, want the edited file", newRefs.styles[0], css.Body.String())
	}
}

func TestPagesWithoutDatabase(t *testing.T) {
	t.Parallel()
	e := newPagesServer(t, false, nil)
	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/", 200, "A demo chapter"},
		{"/login", 200, `id="login-form"`},
		{"/signup", 200, `id="signup-form"`},
		{"/chapters/demo", 303, ""},
		{"/chapters/demo/assets/images/pod.png", 200, "\x89PNG"},
		{"/chapters/demo/assets/tasks.yaml", 404, ""},
		{"/chapters/demo/assets/../../01-demo/tasks.yaml", 404, ""},
		{"/nowhere", 404, "Page not found"},
		{"/api/v1/nowhere", 404, `"error":"` + errNotFound.message + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			rec := get(t, e, tt.path)
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s: %d, want %d\n%s", tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("GET %s: body lacks %q", tt.path, tt.wantBody)
			}
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				checkCSPSafe(t, tt.path, rec.Body.Bytes())
			}
		})
	}
}

// BenchmarkPageHome renders the catalog for an anonymous visitor (no
// database involved): the cost of the template and the middleware-free
// handler. scripts/load.sh measures the whole server with wrk.
func BenchmarkPageHome(b *testing.B) {
	cat, err := labs.Load(os.DirFS("../labs/testdata/good"), labs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{opts: Options{}, catalog: cat, log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	s.pageRoutes(e)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequestWithContext(b.Context(), "GET", "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /: %d", rec.Code)
		}
	}
}
