package labs

import (
	"embed"
	"io/fs"
)

// The chapter folders shipped in the binary.
//
// TODO(labs): narrow the pattern to [0-9][0-9]-* once the chapter folders
// exist (an embed pattern without a match does not compile); until then the
// whole package folder is embedded and Load skips what is not a chapter.
//
//go:embed *
var bundled embed.FS

// Bundled returns the chapter folders embedded in the binary, rooted so that
// Load(Bundled(), …) sees the NN-slug folders at its root.
func Bundled() fs.FS {
	return bundled
}
