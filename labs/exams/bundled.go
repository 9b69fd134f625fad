package exams

import (
	"embed"
	"io/fs"
)

// The exam folders shipped in the binary.
//
//go:embed [0-9][0-9]-*
var bundled embed.FS

// Bundled returns the exam folders embedded in the binary, rooted so that
// Load(Bundled(), …) sees the NN-slug folders at its root.
func Bundled() fs.FS { return bundled }
