package sysdeps_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelab/kubelab/internal/sysdeps"
)

// fakeApt is a stand-in for apt-get (installing real packages is not a
// unit test's business; the README's fresh-machine proof does it for
// real): "install" puts an executable named after each package into bin.
func fakeApt(t *testing.T, bin string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apt-get")
	script := "#!/bin/sh\necho \"$@\" >> " + bin + "/apt.log\n" +
		"[ \"$1\" = install ] || exit 0\nshift\nfor p in \"$@\"; do case $p in -*) ;; broken) exit 100 ;; *) printf '#!/bin/sh\\n' > " + bin + "/tool-$p; chmod +x " + bin + "/tool-$p ;; esac; done\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnsure(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	apt := fakeApt(t, bin)
	log := slog.New(slog.DiscardHandler)
	need := func(pkg string, required bool) sysdeps.Need {
		return sysdeps.Need{Package: pkg, Commands: []string{"tool-" + pkg}, Required: required}
	}
	tests := []struct {
		name    string
		needs   []sysdeps.Need
		install bool
		wantErr string // "" for none
	}{
		{"not root: a required package is named with its command", []sysdeps.Need{need("db", true), need("editor", false)}, false,
			"kubelab needs db from the system; install with: apt-get install -y db editor"},
		{"not root: a missing tool is only a warning", []sysdeps.Need{need("pager", false)}, false, ""},
		{"root: installed", []sysdeps.Need{need("server", true), need("shell", false)}, true, ""},
		{"root: apt-get fails, the message still says what to run", []sysdeps.Need{need("broken", true)}, true,
			"install with: apt-get install -y broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sysdeps.Ensure(t.Context(), sysdeps.Options{Needs: tt.needs, Install: tt.install, AptGet: apt, Log: log})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Ensure: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Ensure: %v, want %q", err, tt.wantErr)
			}
			if tt.install && tt.wantErr == "" {
				if m := sysdeps.Missing(tt.needs); len(m) != 0 {
					t.Errorf("still missing after install: %v", m)
				}
			}
		})
	}
	log2, _ := os.ReadFile(filepath.Join(bin, "apt.log"))
	if !strings.Contains(string(log2), "update -qq\ninstall -y -qq --no-install-recommends server shell\n") {
		t.Errorf("apt-get calls:\n%s", log2)
	}
}
