package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// maxBody bounds every request body; API payloads are small.
const maxBody = "64K"

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clientIP is how a request's client address is found. By default it is
// the TCP peer: a client-supplied X-Forwarded-For must not reset the per-IP
// log-in limit. Behind a reverse proxy, its addresses go in proxies and
// X-Forwarded-For is believed when they sent it.
func clientIP(proxies []*net.IPNet) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(p))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(s.opts.TrustedProxies)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: newRequestID}))
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod: true, LogURIPath: true, LogStatus: true, LogLatency: true,
		LogRequestID: true, LogRemoteIP: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.URIPath == "/healthz" || v.URIPath == "/readyz" || strings.HasPrefix(v.URIPath, "/static/") {
				level = slog.LevelDebug
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath),
				slog.Int("status", v.Status), slog.Duration("duration", v.Latency),
				slog.String("request_id", v.RequestID), slog.String("remote_ip", v.RemoteIP))
			return nil
		},
	}))
	e.Use(middleware.Recover())
	e.Use(s.knownHost)
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: maxBody,
		// The editor saves files of up to jail.MaxHomeFile; saveFile bounds them.
		Skipper: func(c echo.Context) bool {
			return c.Request().Method == http.MethodPut && c.Path() == "/api/v1/sessions/:id/files/*"
		},
	}))
	e.Use(s.securityHeaders)
	e.Use(s.authenticate)
	e.Use(s.sameOrigin)
	s.routes(e)
	s.pageRoutes(e)
	return e
}

// securityHeaders sets the headers every response carries. The CSP allows
// only our own scripts and styles: lessons and user input can never run code.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " +
		s.opts.FrameAncestors
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		// Nothing is cached unless a handler says otherwise (hashed assets do).
		h.Set("Cache-Control", "no-store")
		if s.opts.FrameAncestors == "'none'" {
			h.Set("X-Frame-Options", "DENY")
		}
		return next(c)
	}
}

// sameOrigin refuses state-changing requests that a browser sent from
// another site. Requests authenticated with a bearer token carry no ambient
// credentials and are exempt; everything else must name our origin.
func (s *Server) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		// Bearer tokens carry no ambient credentials; kubeProxy uses none.
		if viaBearer(c) || c.Path() == kubeProxyRoute {
			return next(c)
		}
		if origin := r.Header.Get("Origin"); origin == "" || !s.originAllowed(r, origin) {
			return errCrossSite
		}
		return next(c)
	}
}

// errCrossSite names no origin: the sentence is the same for every refusal.
var errCrossSite = errStatus(http.StatusForbidden,
	"The request was refused because it did not come from a kubelab page. Reload the page and try again.")
