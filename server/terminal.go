package server

import (
	"context"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/server/terminal"
)

// ShellStarter starts the learner's shell for a session: a jailed PTY on
// this host, or an exec into the learner's workspace pod.
type ShellStarter func(ctx context.Context, session string, sb *sandbox.Sandbox) (terminal.Process, error)

// terminal attaches the caller to their session's shell over a websocket.
// Origin, authentication, ownership and readiness are checked before the
// shell starts, so a cross-site page starts nothing and a stranger gets the
// same 404 as for a missing session.
func (s *Server) terminal(c echo.Context) error {
	if !s.browserOriginAllowed(c.Request()) {
		return errCrossSite
	}
	ss, term, err := s.sessionShell(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ws, err := s.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Upgrade has already answered the client
	}
	if err := term.Serve(ctx, ws, false); err != nil {
		s.log.Debug("terminal connection ended", "session_id", ss.ID, "err", err)
	}
	return nil
}

// sessionShell is the caller's ready session of the path and its shell,
// started if it is not running.
func (s *Server) sessionShell(c echo.Context) (sandbox.Session, *terminal.Terminal, error) {
	ss, _, err := s.ownedSession(c)
	if err != nil {
		return ss, nil, err
	}
	sb, err := s.readySandbox(c.Request().Context(), ss)
	if err != nil {
		return ss, nil, err
	}
	term, err := s.terminals.Open(s.life, ss.ID, s.shellStarter(ss.ID, sb))
	if err != nil {
		return ss, nil, fmt.Errorf("open the shell of %s: %w", ss.ID, err)
	}
	return ss, term, nil
}

// shellStarter starts the learner's shell in session's sandbox sb.
func (s *Server) shellStarter(session string, sb *sandbox.Sandbox) func(ctx context.Context) (terminal.Process, error) {
	return func(ctx context.Context) (terminal.Process, error) {
		p, err := s.opts.Shell(ctx, session, sb)
		if err != nil {
			return nil, err
		}
		return activeProcess{Process: p, touch: func() { s.sandboxes.Touch(s.life, session) }, typed: &typedLines{}}, nil
	}
}

// prestartShell starts a ready session's shell before its learner
// connects, so the browser's websocket finds the prompt waiting instead
// of waiting for the sandbox's credentials and a jail. A learner who never
// connects costs one idle shell until the session ends.
func (s *Server) prestartShell(ss sandbox.Session) {
	if s.opts.Shell == nil || s.terminals == nil {
		return
	}
	s.background.Go(func() {
		ctx, cancel := context.WithTimeout(s.life, time.Minute)
		defer cancel()
		sb, err := s.readySandbox(ctx, ss)
		if err == nil {
			_, err = s.terminals.Open(ctx, ss.ID, s.shellStarter(ss.ID, sb))
		}
		if err != nil && s.life.Err() == nil {
			s.log.Debug("shell not started ahead; it starts when the learner connects", "session_id", ss.ID, "err", err)
		}
	})
}

// activeProcess counts the learner's input to a shell as activity (the
// Manager throttles what it writes).
type activeProcess struct {
	terminal.Process
	touch func()
	typed *typedLines // what the learner typed, for a raised hand
}

func (p activeProcess) Write(b []byte) (int, error) {
	p.touch()
	p.typed.write(b)
	return p.Process.Write(b)
}
