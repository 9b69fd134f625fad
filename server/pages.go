package server

import (
	"bytes"
	"errors"
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
	"github.com/kubelab/kubelab/labs"
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
var pageNames = []string{"home", "login", "signup", "account", "progress", "chapter", "error"}

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
	e.GET("/", p.home)
	e.GET("/login", p.login)
	e.GET("/signup", p.signup)
	e.GET("/account", p.account)
	e.GET("/progress", p.progress)
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
	TotalMinutes int
	Chapter      *chapterPage
	Progress     *progressPage
	Error        *errorPage
}

type catalogCard struct {
	ID, Title, Summary       string
	Order, Minutes           int
	Tasks, Passed, Points    int
	Score                    float64
	Simulated, Started, Done bool
}

type chapterPage struct {
	ID, Title, Summary string
	Minutes            int
	Needs              []string
	SimulatedOK        bool
	Steps              []*stepPage
	Total, Passed      int
	Points             int
	Score              float64
}

type stepPage struct {
	ID, Title  string
	HTML       template.HTML
	Tasks      []taskPage
	Done       bool
	Prev, Next *stepPage
}

type taskPage struct {
	ID, Step, Title string
	Points          int
	Challenge       bool
	Hints           []template.HTML
	Passed          bool
	Score           float64
}

type progressPage struct {
	Rows                             []progressRow
	ChaptersDone, TasksPassed, Tasks int
	Points                           int
	Score                            float64
	Seconds                          int64
}

type progressRow struct {
	ID, Title     string
	Passed, Total int
	Points        int
	Score         float64
	Seconds       int64
	Started, Done bool
}

type errorPage struct{ Title, Message string }

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

func (p *pages) home(c echo.Context) error {
	d := p.data(c, "home", "")
	for _, ch := range p.s.catalog.Chapters() {
		card := catalogCard{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Order: ch.Order,
			Minutes: ch.Minutes, Tasks: len(ch.Tasks), Points: chapterPoints(ch), Simulated: len(ch.Needs) == 0}
		if d.User != nil {
			prog, err := p.s.chapterProgress(c, ch)
			if err != nil {
				return err
			}
			card.Passed, card.Score, card.Started = chapterTotals(ch, prog)
			card.Done = card.Tasks > 0 && card.Passed == card.Tasks
		}
		d.TotalMinutes += ch.Minutes
		d.Chapters = append(d.Chapters, card)
	}
	if d.User != nil {
		d.Continue = continueWith(d.Chapters)
	}
	return p.render(c, http.StatusOK, d)
}

// continueWith picks the chapter to offer on the home page: the first one
// started and not done, else the first one not done.
func continueWith(cards []catalogCard) *catalogCard {
	for i := range cards {
		if cards[i].Started && !cards[i].Done {
			return &cards[i]
		}
	}
	for i := range cards {
		if !cards[i].Done {
			return &cards[i]
		}
	}
	return nil
}

func (p *pages) login(c echo.Context) error {
	d := p.data(c, "login", "Log in")
	d.Next = safeNext(c.QueryParam("next"))
	if d.User != nil && !d.User.Guest {
		return c.Redirect(http.StatusSeeOther, orHome(d.Next))
	}
	return p.render(c, http.StatusOK, d)
}

func (p *pages) signup(c echo.Context) error {
	d := p.data(c, "signup", "Sign up")
	d.Next = safeNext(c.QueryParam("next"))
	if d.User != nil && !d.User.Guest {
		return c.Redirect(http.StatusSeeOther, orHome(d.Next))
	}
	return p.render(c, http.StatusOK, d)
}

func (p *pages) account(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	d := p.data(c, "account", "Account")
	d.Next = "/account"
	return p.render(c, http.StatusOK, d)
}

func (p *pages) progress(c echo.Context) error {
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	d := p.data(c, "progress", "Progress")
	pp := &progressPage{}
	for _, ch := range p.s.catalog.Chapters() {
		prog, err := p.s.chapterProgress(c, ch)
		if err != nil {
			return err
		}
		row := progressRow{ID: ch.ID, Title: ch.Title, Total: len(ch.Tasks), Points: chapterPoints(ch)}
		row.Passed, row.Score, row.Started = chapterTotals(ch, prog)
		row.Done = row.Total > 0 && row.Passed == row.Total
		pp.Rows = append(pp.Rows, row)
	}
	if err := p.addTimeSpent(c, u, pp); err != nil {
		return err
	}
	for _, r := range pp.Rows {
		pp.Tasks += r.Total
		pp.TasksPassed += r.Passed
		pp.Points += r.Points
		pp.Score += r.Score
		pp.Seconds += r.Seconds
		if r.Done {
			pp.ChaptersDone++
		}
	}
	d.Progress = pp
	return p.render(c, http.StatusOK, d)
}

// addTimeSpent fills in the seconds spent per chapter.
func (p *pages) addTimeSpent(c echo.Context, u *store.User, pp *progressPage) error {
	rows, err := p.s.store.Progress(c.Request().Context(), u.ID)
	if err != nil {
		return fmt.Errorf("progress of %s: %w", u.ID, err)
	}
	seconds := map[string]int64{}
	for _, r := range rows {
		seconds[r.Chapter] = r.Seconds
	}
	for i := range pp.Rows {
		pp.Rows[i].Seconds = seconds[pp.Rows[i].ID]
	}
	return nil
}

// chapterTotals sums a user's stored results in a chapter.
func chapterTotals(ch *labs.Chapter, prog map[string]store.TaskResultRow) (passed int, score float64, started bool) {
	for _, t := range ch.Tasks {
		r, ok := prog[t.ID]
		if !ok {
			continue
		}
		started = true
		p, sc := taskResult(r, t.Points)
		if p {
			passed++
		}
		score += sc
	}
	return passed, score, started
}

// taskResult is a stored result as the pages show it: passed once means
// passed, with full points.
func taskResult(r store.TaskResultRow, points int) (passed bool, score float64) {
	if everPassed(r) {
		return true, max(r.Score, float64(points))
	}
	return false, r.Score
}

// everPassed reports whether a stored task result counts as passed: a task
// stays done once passed, even after the learner cleaned up the objects.
func everPassed(r store.TaskResultRow) bool { return r.Passed || r.FirstPassedAt != nil }

func (p *pages) chapter(c echo.Context) error {
	ch, err := p.s.catalog.Chapter(c.Param("chapter"))
	if errors.Is(err, labs.ErrNotFound) {
		return p.notFound(c)
	}
	if err != nil {
		return err
	}
	u, err := p.requireUser(c)
	if u == nil {
		return err
	}
	prog, err := p.s.chapterProgress(c, ch)
	if err != nil {
		return err
	}
	cp := &chapterPage{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, Minutes: ch.Minutes,
		Needs: ch.Needs, SimulatedOK: len(ch.Needs) == 0, Total: len(ch.Tasks)}
	byStep := map[string]*stepPage{}
	for i, st := range ch.Steps {
		html, err := p.s.catalog.StepHTML(ch.ID, st.ID)
		if err != nil {
			return fmt.Errorf("render step %s/%s: %w", ch.ID, st.ID, err)
		}
		sp := &stepPage{ID: st.ID, Title: st.Title, HTML: html}
		if i > 0 {
			sp.Prev = cp.Steps[i-1]
			cp.Steps[i-1].Next = sp
		}
		cp.Steps = append(cp.Steps, sp)
		byStep[st.ID] = sp
	}
	for _, t := range ch.Tasks {
		view, err := p.s.catalog.TaskHTML(ch.ID, t.ID)
		if err != nil {
			return fmt.Errorf("render task %s/%s: %w", ch.ID, t.ID, err)
		}
		tp := taskPage{ID: t.ID, Step: t.Step, Title: t.Title, Points: t.Points, Challenge: t.Challenge, Hints: view.Hints}
		if r, ok := prog[t.ID]; ok {
			tp.Passed, tp.Score = taskResult(r, t.Points)
		}
		cp.Points += t.Points
		cp.Score += tp.Score
		if tp.Passed {
			cp.Passed++
		}
		if sp, ok := byStep[t.Step]; ok {
			sp.Tasks = append(sp.Tasks, tp)
		}
	}
	for _, sp := range cp.Steps {
		sp.Done = len(sp.Tasks) > 0
		for _, t := range sp.Tasks {
			sp.Done = sp.Done && t.Passed
		}
	}
	d := p.data(c, "chapter", ch.Title)
	d.Chapter = cp
	return p.render(c, http.StatusOK, d)
}

// chapterAsset serves an image of a chapter folder (lesson images).
func (p *pages) chapterAsset(c echo.Context) error {
	data, ctype, err := p.s.catalog.Asset(c.Param("chapter"), c.Param("*"))
	if errors.Is(err, labs.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, ctype, data)
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

// notFound answers unknown paths: JSON under /api/, a page elsewhere.
func (p *pages) notFound(c echo.Context) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") || c.Request().Method != http.MethodGet {
		return errNotFound
	}
	d := p.data(c, "error", "Not found")
	d.Error = &errorPage{Title: "Page not found", Message: "There is nothing at this address. It may have moved, or the link is wrong."}
	return p.render(c, http.StatusNotFound, d)
}

// safeNext returns next if it is a path on this site, else "". It keeps
// the log-in redirect from sending anyone to another site.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

func orHome(next string) string {
	if next == "" {
		return "/"
	}
	return next
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

// formatScore prints points without a needless fraction: 3, 2.5.
func formatScore(f float64) string {
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
