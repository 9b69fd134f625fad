// Package charts holds the Helm charts bundled with kubelab and packages
// them as a chart repository (index.yaml and one .tgz per chart), which
// every learner's shell reaches as the helm repository "kubelab". The
// charts use only the images kubelab's clusters have offline (nginx:1.27,
// busybox:1.36).
package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed all:web all:greeter
var sources embed.FS

// packagedAt stamps the archives and the index, so the same charts always
// package to the same bytes (and digests).
var packagedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RepoName is the name every shell knows the repository by.
const RepoName = "kubelab"

// Repo is a chart repository in memory. It serves index.yaml and the
// archives it names.
type Repo struct {
	Index    []byte            // index.yaml
	archives map[string][]byte // file name → .tgz
}

// chartMeta is what a chart's Chart.yaml says and its index entry repeats.
type chartMeta struct {
	APIVersion  string `yaml:"apiVersion"`
	Name        string `yaml:"name"`
	Version     string `yaml:"version"`
	AppVersion  string `yaml:"appVersion,omitempty"`
	Description string `yaml:"description,omitempty"`
	Type        string `yaml:"type,omitempty"`
}

type indexEntry struct {
	chartMeta `yaml:",inline"`
	Created   time.Time `yaml:"created"`
	Digest    string    `yaml:"digest"`
	URLs      []string  `yaml:"urls"`
}

type indexFile struct {
	APIVersion string                  `yaml:"apiVersion"`
	Entries    map[string][]indexEntry `yaml:"entries"`
	Generated  time.Time               `yaml:"generated"`
}

// Bundled packages the bundled charts.
func Bundled() (*Repo, error) {
	return Package(sources)
}

// Package packages every chart in fsys (one top-level directory each).
func Package(fsys fs.FS) (*Repo, error) {
	dirs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list charts: %w", err)
	}
	r := &Repo{archives: map[string][]byte{}}
	idx := indexFile{APIVersion: "v1", Entries: map[string][]indexEntry{}, Generated: packagedAt}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		meta, tgz, err := packageChart(fsys, d.Name())
		if err != nil {
			return nil, err
		}
		file := fmt.Sprintf("%s-%s.tgz", meta.Name, meta.Version)
		sum := sha256.Sum256(tgz)
		r.archives[file] = tgz
		idx.Entries[meta.Name] = append(idx.Entries[meta.Name],
			indexEntry{chartMeta: meta, Created: packagedAt, Digest: hex.EncodeToString(sum[:]), URLs: []string{file}})
	}
	if r.Index, err = yaml.Marshal(idx); err != nil {
		return nil, fmt.Errorf("write chart index: %w", err)
	}
	return r, nil
}

// packageChart makes the .tgz of chart directory dir, as `helm package`
// lays it out: every file under a top directory named after the chart.
func packageChart(fsys fs.FS, dir string) (chartMeta, []byte, error) {
	var meta chartMeta
	raw, err := fs.ReadFile(fsys, path.Join(dir, "Chart.yaml"))
	if err != nil {
		return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return meta, nil, fmt.Errorf("chart %s: Chart.yaml: %w", dir, err)
	}
	if meta.Name != dir || meta.Version == "" || meta.APIVersion != "v2" {
		return meta, nil, fmt.Errorf("chart %s: Chart.yaml needs apiVersion v2, a version, and name %q", dir, dir)
	}
	var files []string
	err = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	slices.Sort(files)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.ModTime = packagedAt
	tw := tar.NewWriter(gz)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
		}
		hdr := &tar.Header{Name: f, Mode: 0o644, Size: int64(len(data)), ModTime: packagedAt, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
		}
		if _, err := tw.Write(data); err != nil {
			return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
		}
	}
	if err := tw.Close(); err != nil {
		return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	if err := gz.Close(); err != nil {
		return meta, nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	return meta, buf.Bytes(), nil
}

// ServeHTTP serves index.yaml and the archives, read-only.
func (r *Repo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "read-only chart repository", http.StatusMethodNotAllowed)
		return
	}
	name := path.Base(path.Clean("/" + req.URL.Path))
	switch data, ok := r.archives[name]; {
	case name == "index.yaml":
		w.Header().Set("Content-Type", "application/x-yaml")
		_, _ = w.Write(r.Index)
	case ok:
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(data)
	default:
		http.NotFound(w, req)
	}
}
