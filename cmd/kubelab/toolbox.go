package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/kubelab/kubelab/internal/sysdeps"
)

// toolboxCmd installs up front, and waits for, what `kubelab serve` would
// otherwise install at its start or build in the background: PostgreSQL's
// server, bubblewrap and the learners' toolbox from Debian, and the tools
// built from Go's module proxy (k9s).
func toolboxCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toolbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("toolbox takes no arguments, got %q", fs.Args())
	}
	if lack := toolboxLacks(); len(lack) > 0 {
		if os.Geteuid() != 0 {
			return fmt.Errorf("toolbox: missing %s; installing goes into the system (apt-get, /usr/local/bin): run it as root", strings.Join(lack, ", "))
		}
		log := slog.New(slog.NewTextHandler(stderr, nil))
		if err := sysdeps.Ensure(ctx, sysdeps.Options{Needs: sysdeps.Defaults, Install: true, Log: log}); err != nil {
			return err
		}
		if err := sysdeps.Build(ctx, sysdeps.BuildOptions{Modules: sysdeps.Modules, Install: true, Log: log}); err != nil {
			return err
		}
		if lack := toolboxLacks(); len(lack) > 0 {
			return fmt.Errorf("toolbox: still missing after installing: %s", strings.Join(lack, ", "))
		}
	}
	fmt.Fprintln(stdout, "toolbox: everything the learners' shells use is installed")
	return nil
}

// toolboxLacks names the Debian packages and built tools not on this host.
func toolboxLacks() []string {
	var lack []string
	for _, n := range sysdeps.Missing(sysdeps.Defaults) {
		lack = append(lack, n.Package)
	}
	for _, m := range sysdeps.Modules {
		if !m.Found() {
			lack = append(lack, m.Command)
		}
	}
	return lack
}
