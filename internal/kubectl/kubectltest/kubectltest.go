// Package kubectltest builds kubelab's kubectl for tests, once per test
// binary, where a jail's unprivileged user can run it: no test needs a
// kubectl on the host.
package kubectltest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
)

// Path returns the kubectl binary, building it on first use. The binary
// has a fixed place per user (overwritten atomically), so test runs leave
// one copy behind, not one each.
var Path = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(os.TempDir(), "kubelab-test-kubectl-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kubectltest: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("kubectltest: %w", err)
	}
	path := filepath.Join(dir, "kubectl")
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	build := exec.Command("go", "build", "-o", tmp, "github.com/kubelab/kubelab/internal/kubectl/standalone")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kubectltest: build kubectl: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("kubectltest: %w", err)
	}
	return path, nil
})
