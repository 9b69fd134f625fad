// Package jailtest lets tests start real jails without a kubelab binary:
// it builds the in-jail forwarder (./forwarder) once per test binary.
package jailtest

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
	"github.com/kubelab/kubelab/sandbox/jail"
)

var (
	dir       string // world-readable: holds the forwarder and the state dir
	forwarder string
	kubectl   string // kubelab's kubectl, built alone
)

// ForwarderEnv and KubectlEnv name a forwarder and a kubectl already
// built, for a test binary re-run by a test (as another user, say) to use
// instead of building them.
const (
	ForwarderEnv = "KUBELAB_JAILTEST_FORWARDER"
	KubectlEnv   = "KUBELAB_JAILTEST_KUBECTL"
)

// Main is TestMain for a package that starts jails.
func Main(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("fast tier (-short): this package needs bubblewrap jails; not run")
		os.Exit(0)
	}
	Prepare()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Prepare is Main for packages whose TestMain belongs to another helper
// (such as simclustertest.Main): call it first; it builds the forwarder
// Options needs.
func Prepare() {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "jailtest:", err)
		os.Exit(1)
	}
}

// setup builds the forwarder where the jail's unprivileged user can read
// it. It is built without the race detector, as kubelab is shipped (see
// the forwarder's package comment).
func setup() error {
	var err error
	dir, err = os.MkdirTemp("", "kubelab-jailtest-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if kubectl = os.Getenv(KubectlEnv); kubectl == "" {
		if kubectl, err = kubectltest.Path(); err != nil {
			return err
		}
	}
	if forwarder = os.Getenv(ForwarderEnv); forwarder != "" {
		return nil
	}
	forwarder = filepath.Join(dir, "forwarder")
	build := exec.Command("go", "build", "-o", forwarder,
		"github.com/kubelab/kubelab/sandbox/jail/jailtest/forwarder")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the forwarder: %v\n%s", err, out)
	}
	return nil
}

// Options returns jail options with the test forwarder;
// callers may change them before New.
func Options(t testing.TB) jail.Options {
	t.Helper()
	if dir == "" {
		t.Fatal("jailtest: call jailtest.Main(m) from TestMain")
	}
	return jail.Options{
		Forwarder: []string{forwarder},
		Tools:     map[string]string{"kubectl": kubectl},
		StateDir:  filepath.Join(dir, "state"),
		// Not t.Log: relays may log after the test has ended.
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// New returns a Jail with the test forwarder. It fails the
// test (never skips it) when bubblewrap cannot run here.
func New(t testing.TB, opts jail.Options) *jail.Jail {
	t.Helper()
	if testing.Short() {
		t.Skip("fast tier (-short): needs bubblewrap jails; run without -short")
	}
	j, err := jail.New(opts)
	if err != nil {
		t.Fatalf("jail.New: %v", err)
	}
	return j
}
