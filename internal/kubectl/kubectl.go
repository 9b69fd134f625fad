// Package kubectl is kubectl, of the Kubernetes release kubelab embeds
// (k8sversion stamps its client version): the kubelab binary answers as
// kubectl by that name, and tests build it alone (standalone) so that
// nothing needs a kubectl on the host.
package kubectl

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"

	_ "github.com/kubelab/kubelab/internal/k8sversion" // the client version kubectl reports
)

// Main runs kubectl with args (without the program name) and returns its
// exit code; on an error kubectl prints it and exits itself.
func Main(args []string) int {
	os.Args = append([]string{"kubectl"}, args...)       // kubectl reads its arguments there
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck // as upstream's main
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err) // prints the error and exits non-zero
	}
	return 0
}
