package charts_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/kubelab/kubelab/charts"
)

// TestBundledRepo serves the bundled charts as helm would fetch them: the
// index names every chart, each archive loads as a valid chart with the
// digest the index gives, and the repository answers nothing else.
func TestBundledRepo(t *testing.T) {
	t.Parallel()
	repo, err := charts.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(repo)
	defer srv.Close()
	get := func(path string) (int, []byte) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, raw := get("/index.yaml")
	if code != http.StatusOK {
		t.Fatalf("index.yaml: %d", code)
	}
	var idx struct {
		Entries map[string][]struct {
			Name, Version, Digest string
			URLs                  []string
		}
	}
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, versions := range idx.Entries {
		for _, v := range versions {
			got[name] = v.Version
			code, tgz := get("/" + v.URLs[0])
			if code != http.StatusOK {
				t.Fatalf("%s: %d", v.URLs[0], code)
			}
			if sum := sha256.Sum256(tgz); hex.EncodeToString(sum[:]) != v.Digest {
				t.Errorf("%s: digest differs from the index", v.URLs[0])
			}
			ch, err := loader.LoadArchive(bytes.NewReader(tgz))
			if err != nil {
				t.Fatalf("%s does not load as a chart: %v", v.URLs[0], err)
			}
			if ch.Metadata.Name != name || ch.Metadata.Version != v.Version || len(ch.Templates) == 0 {
				t.Errorf("%s: chart %s %s with %d templates", v.URLs[0], ch.Metadata.Name, ch.Metadata.Version, len(ch.Templates))
			}
		}
	}
	if diff := cmp.Diff(map[string]string{"web": "0.2.0", "greeter": "1.0.0"}, got); diff != "" {
		t.Errorf("charts in the index (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/nope.tgz", "/../../etc/passwd", "/web"} {
		if code, _ := get(path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	again, err := charts.Bundled()
	if err != nil || !bytes.Equal(again.Index, repo.Index) {
		t.Errorf("packaging twice gives another index: %v", err)
	}
}
