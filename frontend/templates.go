package frontend

import (
	"embed"
	"io/fs"
)

//go:embed templates
var templates embed.FS

// Templates returns the html/template page files, rooted at the templates
// folder (layout.html, home.html, …).
func Templates() fs.FS {
	sub, err := fs.Sub(templates, "templates")
	if err != nil {
		panic("frontend: templates folder missing: " + err.Error()) // embedded at build time
	}
	return sub
}
