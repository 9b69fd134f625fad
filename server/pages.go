package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/frontend"
	"github.com/kubelab/kubelab/server/store"
)

// The pages are server-rendered html/template files (frontend/templates)
// with small ES modules (frontend/static) for behaviour. Every page is
// rendered for one user and never cached; everything they reference is a
// versioned, immutable asset.

// Cookies the browser sets for presentation only, read here so that the
// first paint already has the right theme and split (no flash, no jump).
const (
	themeCookie  = "kubelab_theme" // "light" or "dark"; absent = follow the system
	splitCookie  = "kubelab_split" // lesson width in percent, 20..80
	defaultSplit = 50
)

// pageNames are the page templates; each is parsed together with layout.html.
var pageNames = []string{"home", "login", "signup", "account", "progress", "labs", "chapter", "error", "exams", "attempt", "review",
	"events", "event", "join", "admin-users"}

// pages renders the HTML pages and serves the static assets.
type pages struct {
	s   *Server
	dev bool

	templatesFS fs.FS
	assetsFS    fs.FS

	// Production: parsed once. Dev: re-read from disk on every request.
	tmpl   map[string]*template.Template
	assets *assetSet

	devMu sync.Mutex
}

// pageRoutes registers the HTML pages and the static assets.
func (s *Server) pageRoutes(e *echo.Echo) {
	p, err := newPages(s)
	if err != nil {
		// The embedded templates and assets are part of the binary: a parse
		// error here is a programmer error caught by the tests.
		panic(fmt.Sprintf("server: pages: %v", err))
	}
	s.pages = p
	e.GET("/", p.home)
	e.GET("/login", p.login)
	e.GET("/signup", p.signup)
	e.GET("/account", p.account)
	e.GET("/progress", p.progress)
	e.GET("/labs", p.labs)
	e.GET("/exams", p.exams)
	e.GET("/exams/attempts/:id", p.attempt)
	e.GET("/exams/attempts/:id/review", p.review)
	e.GET("/events", p.events)
	e.GET("/events/:id", p.event)
	e.GET("/join", p.join)
	e.GET("/join/:code", p.join)
	e.GET("/admin/users", p.adminUsers)
	e.GET("/chapters/:chapter", p.chapter)
	e.GET("/chapters/:chapter/assets/*", p.chapterAsset)
	e.GET(assetPrefix+":version/*", p.asset)
	e.GET("/favicon.ico", p.favicon)
	e.RouteNotFound("/*", p.notFound)
}

func newPages(s *Server) (*pages, error) {
	p := &pages{s: s, dev: s.opts.Dev, assetsFS: s.opts.Assets, templatesFS: frontend.Templates()}
	if p.assetsFS == nil {
		p.assetsFS = frontend.FS()
	}
	if p.dev {
		// In development Assets is the frontend folder on disk; take the
		// templates from there too, so that edits show on reload.
		if sub, err := fs.Sub(p.assetsFS, "templates"); err == nil {
			if _, err := fs.Stat(sub, "layout.html"); err == nil {
				p.templatesFS = sub
			}
		}
	}
	var err error
	if p.assets, err = p.loadAssets(); err != nil {
		return nil, err
	}
	if p.tmpl, err = p.parse(p.assets); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pages) loadAssets() (*assetSet, error) {
	return loadAssets(p.assetsFS, map[string][]byte{highlightAsset: []byte(p.s.catalog.HighlightCSS())})
}

// current returns the templates and assets to use for one request.
func (p *pages) current() (map[string]*template.Template, *assetSet, error) {
	if !p.dev {
		return p.tmpl, p.assets, nil
	}
	p.devMu.Lock()
	defer p.devMu.Unlock()
	assets, err := p.loadAssets()
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := p.parse(assets)
	if err != nil {
		return nil, nil, err
	}
	p.tmpl, p.assets = tmpl, assets
	return tmpl, assets, nil
}

func (p *pages) parse(assets *assetSet) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			if _, ok := assets.files[name]; !ok {
				return "", fmt.Errorf("unknown asset %q", name)
			}
			return assets.url(name), nil
		},
		"initial":  initial,
		"inc":      func(i int) int { return i + 1 },
		"score":    formatScore,
		"duration": formatDuration,
		"hours":    func(min int) string { return formatDuration(int64(min) * 60) },
		"join":     strings.Join,
		"percent":  func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) + "%" },
	}
	base, err := template.New("layout").Funcs(funcs).ParseFS(p.templatesFS, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("clone layout for %s: %w", name, err)
		}
		if name == "account" {
			// The account page of a guest embeds the sign-up form.
			if t, err = t.ParseFS(p.templatesFS, "signup.html"); err != nil {
				return nil, fmt.Errorf("parse signup form: %w", err)
			}
		}
		if name == "event" {
			// The event page's Edit dialog has the create form's fields.
			if t, err = t.ParseFS(p.templatesFS, "events.html"); err != nil {
				return nil, fmt.Errorf("parse event fields: %w", err)
			}
		}
		if t, err = t.ParseFS(p.templatesFS, name+".html"); err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// pageData is what every page template gets; page-specific fields are set
// by each handler.
type pageData struct {
	Title string
	Page  string
	User  *store.User
	Theme string
	Split int
	Next  string // where to go after logging in; always a local path

	Chapters     []catalogCard
	Continue     *catalogCard // the chapter the home page suggests
	Returning    bool         // the learner has started a chapter before (the home page greets them back)
	TotalMinutes int
	Chapter      *chapterPage
	Progress     *progressPage
	Labs         []labRow
	Exams        *examsPage
	Attempt      *attemptPage
	Review       *reviewPage
	Error        *errorPage
	Workshops    *workshopsPage // the events, event, join and admin-users pages
	Workshop     *homeWorkshop  // the home page: the workshop the learner joined
}

func (p *pages) data(c echo.Context, page, title string) *pageData {
	d := &pageData{Title: title, Page: page, User: userOf(c), Split: defaultSplit}
	if ck, err := c.Cookie(themeCookie); err == nil && (ck.Value == "light" || ck.Value == "dark") {
		d.Theme = ck.Value
	}
	if ck, err := c.Cookie(splitCookie); err == nil {
		if n, err := strconv.Atoi(ck.Value); err == nil && n >= 20 && n <= 80 {
			d.Split = n
		}
	}
	return d
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (p *pages) render(c echo.Context, status int, d *pageData) error {
	tmpl, _, err := p.current()
	if err != nil {
		return err
	}
	t, ok := tmpl[d.Page]
	if !ok {
		return fmt.Errorf("render page %s: no such template", d.Page)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		return fmt.Errorf("render page %s: %w", d.Page, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, b.Bytes())
}

// requireUser redirects an anonymous visitor to the log-in page, which
// brings them back afterwards.
func (p *pages) requireUser(c echo.Context) (*store.User, error) {
	if u := userOf(c); u != nil {
		return u, nil
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return nil, c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
}

func (p *pages) asset(c echo.Context) error {
	_, assets, err := p.current()
	if err != nil {
		return err
	}
	name, err := url.PathUnescape(c.Param("*"))
	if err != nil {
		return errNotFound
	}
	return assets.serve(c, c.Param("version"), name)
}

func (p *pages) favicon(c echo.Context) error {
	_, assets, err := p.current()
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusMovedPermanently, assets.url("static/favicon.svg"))
}

// initial is the letter shown in the avatar circle.
func initial(name string) string {
	for _, r := range strings.TrimSpace(name) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return strings.ToUpper(string(r))
		}
	}
	return "?"
}

// formatScore prints points without a needless fraction: 3, 2.5. It
// rounds first: a sum of partial scores such as 4/3 + 2/3 may miss the
// integer by a rounding error, and "2.0" would look like a fraction.
func formatScore(f float64) string {
	f = math.Round(f*10) / 10
	if f == math.Trunc(f) {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// formatDuration prints a time span for people: "45 min", "2 h 5 min".
func formatDuration(seconds int64) string {
	m := (seconds + 30) / 60
	switch {
	case m < 60:
		return fmt.Sprintf("%d min", m)
	case m%60 == 0:
		return fmt.Sprintf("%d h", m/60)
	default:
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
}
