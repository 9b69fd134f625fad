// Command kubelab serves hands-on Kubernetes training in the browser. It
// reads flags (with KUBELAB_* environment defaults), wires the packages
// together and runs one of its subcommands; it holds no logic of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/sandbox/childcluster"
)

func main() {
	if tool := toolNamed(os.Args[0]); tool != nil {
		os.Exit(tool(os.Args[1:]))
	}
	if len(os.Args) > 1 {
		if tool := tools[os.Args[1]]; tool != nil {
			os.Exit(tool(os.Args[2:]))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelab:", err)
		os.Exit(1)
	}
}

const usage = `kubelab serves hands-on Kubernetes training in the browser.

Usage:
  kubelab [serve] [flags]              run the web server (the default)
  kubelab cluster [flags]              run the embedded simulated cluster alone
  kubelab labs validate [dir]          check chapters for mistakes
  kubelab labs test [flags] [dir]      prove every task: checks fail, solution runs, checks pass
                                       (--chapter ID; --sandbox=kind for chapters that need real containers)
  kubelab exams validate               check the practice exams and their task banks
  kubelab exams test [flags]           prove every bank task for several draws of its params (--exam ID)
  kubelab migrate [flags]              apply database migrations and exit
  kubelab token create --email E       create an API token for a user (admins)
  kubelab user role --email E instructor|learner
                                       let an account run workshops (events), or not
  kubelab toolbox                      install now what serve installs or builds at its start, as root:
                                       PostgreSQL, bubblewrap, the learners' tools (apt-get) and k9s (go install)
  kubelab version                      print the version
  kubelab kubectl [args]               kubectl, version-matched to the embedded cluster (also run as
                                       "kubectl" by name: the learner's shell does)

Run "kubelab <command> --help" for a command's flags. Every flag has a
KUBELAB_* environment variable as its default (e.g. --addr ↔ KUBELAB_ADDR).
`

// run does everything main does, with its inputs passed in so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if cfg := getenv(childcluster.EnvChild); cfg != "" { // started by serve as a learner's own cluster
		return childcluster.Child(ctx, cfg, stderr)
	}
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nFlags of serve:")
		fs, _ := serveFlags(getenv)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "cluster":
		return clusterCmd(ctx, args, getenv, stdout, stderr)
	case "labs":
		return labsCmd(ctx, args, getenv, stdout, stderr)
	case "exams":
		return examsCmd(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args, getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args, getenv, stdout, stderr)
	case "user":
		return userCmd(ctx, args, getenv, stdout, stderr)
	case "forward":
		return forwardCmd(ctx, args)
	case "toolbox":
		return toolboxCmd(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "kubelab", version())
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}
