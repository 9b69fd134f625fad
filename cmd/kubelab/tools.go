package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubelab/kubelab/sandbox/jail"
)

// tools are the programs the kubelab binary also is, chosen by the name
// it is run as (a learner's jail runs it as kubectl) or by `kubelab NAME`.
// Each takes its own arguments and returns an exit code.
var tools = map[string]func(args []string) int{
	"kubectl": kubectlMain,
}

// toolNamed is the tool argv0 names, nil for kubelab itself.
func toolNamed(argv0 string) func([]string) int {
	return tools[filepath.Base(argv0)]
}

// kubectlMain is kubectl, of the Kubernetes release the embedded cluster
// runs (sandbox/simcluster stamps the version for the whole binary).
func kubectlMain(args []string) int {
	os.Args = append([]string{"kubectl"}, args...)       // kubectl reads its arguments there
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck // as upstream's main
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err) // prints the error and exits non-zero
	}
	return 0
}

// newJails makes the jail of learner shells and chapter setup: kubelab
// itself is their API forwarder and their kubectl.
func newJails(log *slog.Logger) (*jail.Jail, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	shellTools := map[string]string{}
	for name := range tools {
		shellTools[name] = exe
	}
	return jail.New(jail.Options{Forwarder: []string{exe, "forward"}, Tools: shellTools, Log: log})
}
