package sysdeps_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubelab/kubelab/internal/sysdeps"
)

// fakeGo stands in for the go command (a real build of k9s takes minutes;
// scripts/test runs the real one through `kubelab toolbox`): "install"
// writes an executable named after the module's last path element into
// $GOBIN, fails for a module named broken, and hangs for one named slow.
func fakeGo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "go")
	script := `#!/bin/sh
echo "$@" >> "$GOBIN/go.log"
for a in "$@"; do mod=$a; done
name=$(basename "${mod%@*}")
case $name in
broken) echo "compile: no such package" >&2; exit 1 ;;
slow) sleep 60 & echo $! > "$GOBIN/child.pid"; wait; exit 0 ;;
esac
printf '#!/bin/sh\n' > "$GOBIN/$name"; chmod +x "$GOBIN/$name"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuild(t *testing.T) {
	goCmd := fakeGo(t)
	mod := func(name string) sysdeps.Module {
		return sysdeps.Module{Command: name, Path: "example.com/tools/" + name, Version: "v1.2.3", LDFlags: "-s"}
	}
	tests := []struct {
		name      string
		mod       sysdeps.Module
		install   bool
		wantErr   string // "" for none
		wantLog   string
		wantBuilt bool
	}{
		{"not root: the command is named, nothing built", mod("viewer"), false, "", "go install -ldflags=\\\"-s\\\" example.com/tools/viewer@v1.2.3", false},
		{"root: built into bin", mod("viewer"), true, "", "built a tool", true},
		{"root: a failed build says why and the command", mod("broken"), true, "no such package", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := t.TempDir()
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			err := sysdeps.Build(t.Context(), sysdeps.BuildOptions{Modules: []sysdeps.Module{tt.mod}, Bin: bin, Go: goCmd, Install: tt.install, Log: log})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Build: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "GOBIN="+bin+" go install")):
				t.Fatalf("Build: %v, want %q and the command", err, tt.wantErr)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if got := tt.mod.Found(); got != tt.wantBuilt {
				t.Errorf("%s on PATH after Build: %v, want %v", tt.mod.Command, got, tt.wantBuilt)
			}
			if tt.wantBuilt {
				// Found now: a second Build does nothing.
				_ = os.Remove(filepath.Join(bin, "go.log"))
				if err := sysdeps.Build(t.Context(), sysdeps.BuildOptions{Modules: []sysdeps.Module{tt.mod}, Bin: bin, Go: goCmd, Install: true, Log: log}); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(bin, "go.log")); err == nil {
					t.Error("a tool already on PATH was built again")
				}
			}
		})
	}
}

// TestBuildStopsWithItsContext: kubelab stopping ends a build under way,
// compilers included, and that is not an error.
func TestBuildStopsWithItsContext(t *testing.T) {
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := sysdeps.Build(ctx, sysdeps.BuildOptions{Modules: []sysdeps.Module{{Command: "slow", Path: "example.com/slow", Version: "v1"}},
		Bin: bin, Go: fakeGo(t), Install: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Build cut off: %v, want nil", err)
	}
	b, err := os.ReadFile(filepath.Join(bin, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The build's own child (a compiler, here sleep) is gone too, not only
	// go; it may take a moment to be reaped by init.
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the build's child %d outlived the build", pid)
}
