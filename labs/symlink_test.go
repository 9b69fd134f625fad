package labs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelab/kubelab/labs"
)

// copyGood copies testdata/good into a fresh folder and returns its path,
// and a secret file beside it (standing in for an admin kubeconfig).
func copyGood(t *testing.T) (dir, secret string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "labs")
	if err := os.CopyFS(dir, os.DirFS("testdata/good")); err != nil {
		t.Fatal(err)
	}
	secret = filepath.Join(base, "admin.kubeconfig")
	if err := os.WriteFile(secret, []byte("client-key-data: SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, secret
}

// TestSymlinkedAssetIsRefused: a link in a chapter folder, to a file
// outside or to the chapter's own tasks.yaml, is reported by Load (so
// `labs validate` and `serve` refuse the folder), and a link made after
// loading is not served.
func TestSymlinkedAssetIsRefused(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"outside", "tasks.yaml"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			dir, secret := copyGood(t)
			link := filepath.Join(dir, "01-demo", "images", "leak.png")
			to := secret
			if target == "tasks.yaml" {
				to = "../tasks.yaml"
			}
			if err := os.Symlink(to, link); err != nil {
				t.Fatal(err)
			}
			_, err := labs.Load(os.DirFS(dir), labs.Options{})
			var verr *labs.ValidationError
			if !errors.As(err, &verr) || !strings.Contains(err.Error(), "01-demo/images/leak.png") ||
				!strings.Contains(err.Error(), "symbolic links are not allowed") {
				t.Fatalf("Load with a symlinked asset: got %v, want a problem naming the link", err)
			}
		})
	}
	for _, open := range []struct {
		name string
		fsys func(t *testing.T, dir string) fs.FS
	}{
		{"DirFS", func(_ *testing.T, dir string) fs.FS { return os.DirFS(dir) }},
		{"Root", func(t *testing.T, dir string) fs.FS {
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { root.Close() })
			return root.FS()
		}},
	} {
		t.Run("made after loading/"+open.name, func(t *testing.T) {
			t.Parallel()
			dir, secret := copyGood(t)
			cat, err := labs.Load(open.fsys(t, dir), labs.Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := os.Symlink(secret, filepath.Join(dir, "01-demo", "images", "late.png")); err != nil {
				t.Fatal(err)
			}
			data, _, err := cat.Asset("demo", "images/late.png")
			if !errors.Is(err, labs.ErrNotFound) {
				t.Errorf("Asset of a link made after loading: got %q, %v; want ErrNotFound", data, err)
			}
		})
	}
}
