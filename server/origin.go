package server

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// hostAllowed reports whether a request's Host names kubelab. A DNS
// rebinding page reaches a localhost-only kubelab under the attacker's own
// name, so without a public URL only names that cannot be rebound are
// accepted: localhost names, IP literals and the names the operator listed
// (Options.AllowedHosts). With a public URL, only its host.
func (s *Server) hostAllowed(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	if name == "" {
		return false
	}
	if s.public != nil {
		return strings.EqualFold(host, s.public.Host) || strings.EqualFold(name, s.public.Hostname())
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") || net.ParseIP(name) != nil {
		return true
	}
	for _, h := range s.opts.AllowedHosts {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// knownHost refuses requests addressed to a name kubelab does not answer to.
// Health probes are exempt: they carry nothing and come from load balancers
// that address the pod by any name.
func (s *Server) knownHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || s.hostAllowed(r.Host) {
			return next(c)
		}
		return errUnknownHost
	}
}

var errUnknownHost = errStatus(http.StatusMisdirectedRequest,
	"This kubelab does not answer to that host name: open it as http://localhost, by IP address, "+
		"or under a name given to --public-url or --allowed-hosts.")

// originAllowed reports whether a browser's Origin is kubelab's own: the
// public URL when configured, otherwise the scheme this request came in on
// and the host it was addressed to (already checked by knownHost).
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if s.public != nil {
		return strings.EqualFold(u.Scheme, s.public.Scheme) && strings.EqualFold(u.Host, s.public.Host)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host) && s.hostAllowed(u.Host)
}

// browserOriginAllowed is the websocket upgrade's check: a request without
// an Origin is not from a browser and carries no victim's ambient cookie.
func (s *Server) browserOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || s.originAllowed(r, origin)
}
