// Package sysdeps makes sure the programs kubelab runs from the host are
// there: PostgreSQL's server binaries and bubblewrap, which it cannot run
// without, and the learner's toolbox (jq, yq, vim, nano, less, watch, curl,
// git, bash completion, the certificate authorities), which every jailed
// shell sees from the host's /usr. As root on a Debian or Ubuntu machine it installs what is missing
// with apt-get; otherwise it names the one command that would.
package sysdeps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Need is one program kubelab runs from the host.
type Need struct {
	Package  string   // the Debian package that provides it
	Commands []string // any one of these found means it is there
	Globs    []string // or any file matching one of these (PostgreSQL keeps its binaries off PATH)
	Required bool     // kubelab cannot start without it; else learners miss a tool
}

// Defaults are what `kubelab serve` needs with its embedded defaults.
var Defaults = []Need{
	{Package: "postgresql", Commands: []string{"initdb"}, Globs: []string{"/usr/lib/postgresql/*/bin/initdb"}, Required: true},
	{Package: "bubblewrap", Commands: []string{"bwrap"}, Required: true},
	{Package: "bash-completion", Globs: []string{"/usr/share/bash-completion/bash_completion"}},
	{Package: "jq", Commands: []string{"jq"}},
	{Package: "yq", Commands: []string{"yq"}},
	{Package: "vim", Commands: []string{"vim"}},
	{Package: "nano", Commands: []string{"nano"}},
	{Package: "less", Commands: []string{"less"}},
	{Package: "procps", Commands: []string{"watch"}},
	{Package: "curl", Commands: []string{"curl"}},
	{Package: "git", Commands: []string{"git"}},
	// The certificate authorities: for the learners' https (curl, git) and
	// for go install of the tools built from Go's module proxy (k9s).
	{Package: "ca-certificates", Globs: []string{"/etc/ssl/certs/ca-certificates.crt"}},
}

// Options configure Ensure.
type Options struct {
	Needs   []Need
	Install bool   // install what is missing (kubelab runs as root)
	AptGet  string // the apt-get binary (default: apt-get on PATH)
	Log     *slog.Logger
}

// Ensure finds every need and, with Install, installs the missing ones.
// It fails only when a required one is still missing, with a message that
// gives the command to run; missing tools are logged.
func Ensure(ctx context.Context, o Options) error {
	missing := Missing(o.Needs)
	if len(missing) == 0 {
		return nil
	}
	pkgs := packages(missing)
	cmd := "apt-get install -y " + strings.Join(pkgs, " ")
	if o.Install {
		if err := aptInstall(ctx, o, pkgs); err != nil {
			o.Log.Warn("could not install what kubelab needs from the system", "packages", pkgs, "err", err)
		} else {
			o.Log.Info("installed what kubelab needs from the system", "packages", pkgs)
		}
		missing = Missing(missing)
		pkgs = packages(missing)
		cmd = "apt-get install -y " + strings.Join(pkgs, " ")
	}
	var required []string
	for _, n := range missing {
		if n.Required {
			required = append(required, n.Package)
		}
	}
	if len(required) > 0 {
		return fmt.Errorf("kubelab needs %s from the system; install with: %s (as root, kubelab does that itself)",
			strings.Join(required, " and "), cmd)
	}
	if len(missing) > 0 {
		o.Log.Warn("learners' shells lack some tools; install with: "+cmd, "packages", pkgs)
	}
	return nil
}

// Missing returns the needs not found on this machine.
func Missing(needs []Need) []Need {
	var out []Need
	for _, n := range needs {
		if !found(n) {
			out = append(out, n)
		}
	}
	return out
}

func found(n Need) bool {
	for _, c := range n.Commands {
		if _, err := exec.LookPath(c); err == nil {
			return true
		}
	}
	for _, g := range n.Globs {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return true
		}
	}
	return false
}

func packages(needs []Need) []string {
	var pkgs []string
	for _, n := range needs {
		if !slices.Contains(pkgs, n.Package) {
			pkgs = append(pkgs, n.Package)
		}
	}
	return pkgs
}

// aptInstall runs apt-get update and install, non-interactively.
func aptInstall(ctx context.Context, o Options, pkgs []string) error {
	apt := o.AptGet
	if apt == "" {
		var err error
		if apt, err = exec.LookPath("apt-get"); err != nil {
			return errors.New("apt-get not found: this is not a Debian or Ubuntu machine")
		}
	}
	o.Log.Info("installing what kubelab needs from the system (apt-get)", "packages", pkgs)
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.CommandContext(ctx, apt, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", args[0], err, lastLines(string(out), 5))
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
