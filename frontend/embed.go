// Package frontend holds the browser UI's static files: stylesheets, small
// plain JavaScript modules and the vendored xterm.js. They are embedded so
// that building the Go binary never needs Node.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed static vendor
var files embed.FS

// FS returns the UI files rooted at the frontend folder (static/, vendor/).
func FS() fs.FS { return files }
