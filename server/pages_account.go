package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// The account pages: log in, sign up, and the account itself.

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
