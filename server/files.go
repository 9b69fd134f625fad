package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/kubelab/kubelab/sandbox/jail"
)

// The editor beside the terminal reads and saves files of the learner's
// home in their shell (sandbox/jail confines it there). The shell is
// started if it is not running, as when the terminal connects: the home
// is the shell's.

// homeOpener is a shell whose home kubelab can open: the jailed shell on
// this host (a workspace pod's cannot).
type homeOpener interface {
	Home() (*jail.Home, error)
}

// The editor's sentences.
var (
	errFileName    = errStatus(http.StatusBadRequest, "Choose a file name inside your home directory, such as pod.yaml or manifests/pod.yaml.")
	errFileMissing = errStatus(http.StatusNotFound, "There is no such file in your home directory. Check its name, or save it first.")
	errNotAFile    = errStatus(http.StatusBadRequest, "That is not a file the editor can open: it is a directory, a link or a pipe.")
	errFileTooBig  = errStatus(http.StatusRequestEntityTooLarge, "The editor opens and saves files of up to 1 MiB. Use the terminal for larger ones.")
	errNotText     = errStatus(http.StatusUnsupportedMediaType, "The editor opens text files only. Use the terminal for this one.")
	errHomeFull    = errStatus(http.StatusInsufficientStorage, "Your home directory is full. Delete files you no longer need (rm in the terminal), then save again.")
	errShellEnded  = errStatus(http.StatusConflict, "Your shell has ended, and your files with it. Open a new shell in the terminal, then try again.")
	errNoEditor    = errStatus(http.StatusNotImplemented, "The editor works with shells on the kubelab host; this kubelab runs shells in workspace pods. Use vim or nano in the terminal.")
)

// homeErr maps the jail's errors to the editor's sentences.
func homeErr(err error) error {
	switch {
	case errors.Is(err, jail.ErrHomeName):
		return errFileName
	case errors.Is(err, jail.ErrHomeNotFound):
		return errFileMissing
	case errors.Is(err, jail.ErrHomeNotFile):
		return errNotAFile
	case errors.Is(err, jail.ErrHomeTooLarge):
		return errFileTooBig
	case errors.Is(err, jail.ErrHomeNotText):
		return errNotText
	case errors.Is(err, jail.ErrHomeFull):
		return errHomeFull
	case errors.Is(err, jail.ErrHomeGone):
		return errShellEnded
	}
	return err
}

// withHome opens the home of the caller's session's shell for fn.
func (s *Server) withHome(c echo.Context, fn func(*jail.Home) error) error {
	if !s.browserOriginAllowed(c.Request()) {
		return errCrossSite
	}
	if s.opts.Shell == nil || s.terminals == nil {
		return errNoEditor
	}
	_, term, err := s.sessionShell(c)
	if err != nil {
		return err
	}
	p := term.Process()
	if a, ok := p.(activeProcess); ok {
		p = a.Process
	}
	opener, ok := p.(homeOpener)
	if !ok {
		return errNoEditor
	}
	home, err := opener.Home()
	if err != nil {
		return homeErr(err)
	}
	defer home.Close()
	return homeErr(fn(home))
}

type filesJSON struct {
	Files     []jail.HomeEntry `json:"files"`
	Truncated bool             `json:"truncated"`
}

// listFiles answers the learner's home as a list of paths, hidden files
// left out.
func (s *Server) listFiles(c echo.Context) error {
	return s.withHome(c, func(h *jail.Home) error {
		files, truncated, err := h.List()
		if err != nil {
			return err
		}
		if files == nil {
			files = []jail.HomeEntry{} // [], not null
		}
		return c.JSON(http.StatusOK, filesJSON{Files: files, Truncated: truncated})
	})
}

// fileName is the path after /files/, as the learner named it; echo
// leaves it escaped. A name that does not unescape is refused by the home.
func fileName(c echo.Context) string {
	name, err := url.PathUnescape(c.Param("*"))
	if err != nil {
		return ""
	}
	return name
}

// readFile answers one file of the home as text.
func (s *Server) readFile(c echo.Context) error {
	return s.withHome(c, func(h *jail.Home) error {
		b, err := h.ReadFile(fileName(c))
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", b)
	})
}

// saveFile replaces (or creates) one file of the home with the body.
func (s *Server) saveFile(c echo.Context) error {
	return s.withHome(c, func(h *jail.Home) error {
		b, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, jail.MaxHomeFile))
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errFileTooBig
		}
		if err != nil {
			return fmt.Errorf("read the file to save: %w", err)
		}
		if err := h.WriteFile(fileName(c), b); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
}
