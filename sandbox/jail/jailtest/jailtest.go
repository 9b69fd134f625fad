// Package jailtest lets tests start real jails without a kubelab binary:
// the test binary itself, re-executed, plays the in-jail forwarder.
package jailtest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/kubelab/kubelab/sandbox/jail"
)

// forwardArg marks a re-execution as the forwarder.
const forwardArg = "jailtest-forward"

var dir string // world-readable: holds the forwarder copy and the state dir

// Main is TestMain for a package that starts jails. Re-executed as the
// forwarder, it runs jail.Forward instead of the tests.
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
// (such as simclustertest.Main): call it first; it runs the forwarder when
// re-executed as one, and otherwise prepares the copy Options needs.
func Prepare() {
	if len(os.Args) == 4 && os.Args[1] == forwardArg {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := jail.Forward(ctx, os.Args[2], os.Args[3], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "jailtest:", err)
		os.Exit(1)
	}
}

// setup copies the test binary where the jail's unprivileged user can
// read it: go test builds it in a directory only we may enter.
func setup() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err = os.MkdirTemp("", "kubelab-jailtest-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(dir, "forwarder"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// Options returns jail options with this test binary as the forwarder;
// callers may change them before New.
func Options(t testing.TB) jail.Options {
	t.Helper()
	if dir == "" {
		t.Fatal("jailtest: call jailtest.Main(m) from TestMain")
	}
	return jail.Options{
		Forwarder: []string{filepath.Join(dir, "forwarder"), forwardArg},
		StateDir:  filepath.Join(dir, "state"),
		// Not t.Log: relays may log after the test has ended.
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// New returns a Jail with this test binary as the forwarder. It fails the
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
