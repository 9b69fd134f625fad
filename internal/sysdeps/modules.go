package sysdeps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Module is a learner's tool that no Debian package provides but Go's
// module proxy does: it is built with `go install`.
type Module struct {
	Command string // the program it installs, looked up on PATH
	Path    string // the main package
	Version string
	LDFlags string // stamps the version the tool reports
}

const k9sVersion = "v0.50.16"

// K9s is the terminal UI many CKA candidates use; it is built from source
// (about seven minutes on two cores, once).
var K9s = Module{
	Command: "k9s",
	Path:    "github.com/derailed/k9s",
	Version: k9sVersion,
	LDFlags: "-s -w -X github.com/derailed/k9s/cmd.version=" + k9sVersion + " -X github.com/derailed/k9s/cmd.commit=" + k9sVersion,
}

// Modules are the tools `kubelab serve` builds for the learners' shells.
var Modules = []Module{K9s}

// DefaultBin is where modules are installed: on every jailed shell's PATH
// (the jail binds the host's /usr read-only).
const DefaultBin = "/usr/local/bin"

// InstallCommand is the command line that installs m into bin.
func (m Module) InstallCommand(bin string) string {
	return fmt.Sprintf("GOBIN=%s go install -ldflags=%q %s@%s", bin, m.LDFlags, m.Path, m.Version)
}

// Found reports whether m's command is on PATH.
func (m Module) Found() bool {
	_, err := exec.LookPath(m.Command)
	return err == nil
}

// BuildOptions configure Build.
type BuildOptions struct {
	Modules []Module
	Bin     string // default DefaultBin
	Go      string // the go command (default: go on PATH)
	Install bool   // build (kubelab runs as root); else only name the command
	Log     *slog.Logger
}

// Build installs the modules that are not on PATH yet, one after the other,
// at the lowest CPU priority so that learners come first. Without Install
// or a go command it logs the command that would install them and returns
// nil. It returns when every build ended or ctx is done (a build cut off by
// ctx is not an error: the next start builds again).
func Build(ctx context.Context, o BuildOptions) error {
	bin := o.Bin
	if bin == "" {
		bin = DefaultBin
	}
	var missing []Module
	for _, m := range o.Modules {
		if !m.Found() {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd, _ = exec.LookPath("go")
	}
	if !o.Install || goCmd == "" {
		for _, m := range missing {
			o.Log.Warn("learners' shells lack "+m.Command+"; as root, with Go installed, add it with: "+m.InstallCommand(bin), "tool", m.Command)
		}
		return nil
	}
	var errs []error
	for _, m := range missing {
		o.Log.Info("building a tool for the learners' shells from Go's module proxy (once; minutes)", "tool", m.Command, "version", m.Version, "into", bin)
		start := time.Now()
		if err := goInstall(ctx, goCmd, bin, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("build %s: %w (by hand: %s)", m.Command, err, m.InstallCommand(bin)))
			continue
		}
		o.Log.Info("built a tool for the learners' shells", "tool", m.Command, "path", filepath.Join(bin, m.Command), "took", time.Since(start).Round(time.Second))
	}
	return errors.Join(errs...)
}

// goInstall runs go install for m at nice 19, in its own process group so
// that ctx's end stops the compilers too, not only go.
func goInstall(ctx context.Context, goCmd, bin string, m Module) error {
	cmd := exec.CommandContext(ctx, goCmd, "install", "-ldflags="+m.LDFlags, m.Path+"@"+m.Version)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir() // outside any module, so the version asked for is the one built
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	// The lowest priority: a first start with learners arriving must not
	// wait on the compiler.
	_ = syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, 19)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%w: %s", err, lastLines(out.String(), 5))
	}
	return nil
}
