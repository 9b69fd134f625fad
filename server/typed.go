package server

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// typedLines keeps the last lines a learner typed into their terminal, as
// a raised hand shows them to the instructor. It reads keystrokes, not
// the shell: backspace is applied, escape sequences (arrows, history,
// completion) are dropped, so a line edited with them may differ from
// what ran.
type typedLines struct {
	mu    sync.Mutex
	line  []rune
	lines []string
	esc   bool
}

const typedKeep = 20

func (t *typedLines) write(p []byte) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		p = p[n:]
		switch {
		case t.esc:
			// A CSI sequence ends with a letter or ~; a lone ESC x ends at x.
			if r >= '@' && r <= '~' && r != '[' && r != 'O' {
				t.esc = false
			}
		case r == 0x1b:
			t.esc = true
		case r == '\r' || r == '\n':
			if s := strings.TrimSpace(string(t.line)); s != "" {
				t.lines = append(t.lines, s)
				if len(t.lines) > typedKeep {
					t.lines = t.lines[len(t.lines)-typedKeep:]
				}
			}
			t.line = t.line[:0]
		case r == 0x7f || r == 0x08:
			if len(t.line) > 0 {
				t.line = t.line[:len(t.line)-1]
			}
		case r == 0x03 || r == 0x15: // Ctrl+C, Ctrl+U: the line is gone
			t.line = t.line[:0]
		case r >= 0x20 && len(t.line) < 1000:
			t.line = append(t.line, r)
		}
	}
}

// last returns the lines typed, oldest first.
func (t *typedLines) last() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string{}, t.lines...)
}
