package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	helmcmd "helm.sh/helm/v4/pkg/cmd"
	helmkube "helm.sh/helm/v4/pkg/kube"

	"github.com/kubelab/kubelab/charts"
	"github.com/kubelab/kubelab/internal/kubectl"
	"github.com/kubelab/kubelab/sandbox/jail"
)

// tools are the programs the kubelab binary also is, chosen by the name
// it is run as (a learner's jail runs it as kubectl) or by `kubelab NAME`.
// Each takes its own arguments and returns an exit code.
var tools = map[string]func(args []string) int{
	"kubectl": kubectl.Main,
	"helm":    helmMain,
}

// toolNamed is the tool argv0 names, nil for kubelab itself.
func toolNamed(argv0 string) func([]string) int {
	return tools[filepath.Base(argv0)]
}

// helmMain is helm, built against the same Kubernetes client as kubectl.
func helmMain(args []string) int {
	helmkube.ManagedFieldsManager = "helm" // what objects it writes say made them
	cmd, err := helmcmd.NewRootCmd(os.Stdout, args, helmcmd.SetupLogging)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	if err := cmd.Execute(); err != nil {
		var cerr helmcmd.CommandError
		if errors.As(err, &cerr) {
			return cerr.ExitCode
		}
		return 1
	}
	return 0
}

// newJails makes the jail of learner shells and chapter setup: kubelab
// itself is their API forwarder, their kubectl and helm, and their chart
// repository.
func newJails(log *slog.Logger) (*jail.Jail, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	shellTools := map[string]string{}
	for name := range tools {
		shellTools[name] = exe
	}
	repo, err := charts.Bundled()
	if err != nil {
		return nil, err
	}
	return jail.New(jail.Options{Forwarder: []string{exe, "forward"}, Tools: shellTools, Log: log,
		Charts: &jail.ChartRepo{Name: charts.RepoName, Index: repo.Index, Handler: repo}})
}
