package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// Static assets are served under /static/<version>/<path>, where <version>
// is a hash over every asset: a URL names exactly one content, so browsers
// may cache it forever, and relative imports between ES modules resolve
// inside the same version. Templates build the URLs with {{asset "path"}}.
const (
	assetPrefix    = "/static/"
	highlightAsset = "gen/highlight.css" // generated from the catalog, not a file
	immutableCache = "public, max-age=31536000, immutable"
)

// assetFile is one asset held in memory, with a gzip copy when that is smaller.
type assetFile struct {
	data  []byte
	gz    []byte
	ctype string
}

// assetSet is the frontend's files, read once and addressed by a version hash.
type assetSet struct {
	version string
	files   map[string]*assetFile // by path relative to the assets root, e.g. "static/app.js"
}

var assetTypes = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".html":  "text/html; charset=utf-8",
}

func assetType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := assetTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible reports whether gzip is worth trying for a content type.
func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "image/svg") ||
		strings.HasPrefix(ctype, "application/json")
}

// loadAssets reads every regular file under fsys's static/ and vendor/
// (dot files excluded) plus the
// generated extra files, and computes the version over names and contents.
func loadAssets(fsys fs.FS, extra map[string][]byte) (*assetSet, error) {
	set := &assetSet{files: map[string]*assetFile{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		// Only static/ and vendor/ are public: in development fsys is the
		// whole frontend folder, templates included.
		if top, _, _ := strings.Cut(name, "/"); top != "static" && top != "vendor" || strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read asset %s: %w", name, err)
		}
		set.files[name] = newAssetFile(name, data)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load assets: %w", err)
	}
	for name, data := range extra {
		set.files[name] = newAssetFile(name, data)
	}
	names := make([]string, 0, len(set.files))
	for name := range set.files {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(set.files[name].data))
		h.Write(set.files[name].data)
	}
	set.version = hex.EncodeToString(h.Sum(nil))[:12]
	return set, nil
}

func newAssetFile(name string, data []byte) *assetFile {
	f := &assetFile{data: data, ctype: assetType(name)}
	if len(data) > 512 && compressible(f.ctype) {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		if b.Len() < len(data)*9/10 {
			f.gz = b.Bytes()
		}
	}
	return f
}

// url returns the versioned URL of an asset.
func (a *assetSet) url(name string) string {
	return assetPrefix + a.version + "/" + strings.TrimPrefix(name, "/")
}

// serve answers GET /static/:version/*. Only files are served (no
// listings). A request for an old version gets today's file, uncached, so a
// page loaded just before a deploy still works.
func (a *assetSet) serve(c echo.Context, version, name string) error {
	f, ok := a.files[name]
	if !ok || !fs.ValidPath(name) {
		return errNotFound
	}
	h := c.Response().Header()
	if version == a.version {
		h.Set("Cache-Control", immutableCache)
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set(echo.HeaderContentType, f.ctype)
	h.Add("Vary", "Accept-Encoding")
	data := f.data
	if f.gz != nil && acceptsGzip(c.Request()) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		data = f.gz
	}
	return c.Blob(http.StatusOK, f.ctype, data)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
