package labs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one validation finding, located in a file of the loaded FS.
type Problem struct {
	File    string // path relative to the FS root, e.g. "02-pods/tasks.yaml"
	Line    int    // 1-based; 0 when the problem concerns the whole file (e.g. it is missing)
	Message string
}

// String formats the problem as "file:line: message" ("file: message" without a line).
func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
}

// ValidationError holds every problem Load found, sorted by file and line.
type ValidationError struct {
	Problems []Problem
}

// Error returns one "file:line: message" per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects findings while loading.
type problems struct {
	list []Problem
}

func (ps *problems) add(file string, line int, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// err returns nil or a *ValidationError with the problems sorted by file then line
// (stable, so findings on one line keep their discovery order).
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := slices.Clone(ps.list)
	slices.SortStableFunc(list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return &ValidationError{Problems: list}
}
