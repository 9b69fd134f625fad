package sandbox

import (
	"fmt"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// NameContext renames kc's current context to name: every backend names
// the learner's context after the chapter.
func NameContext(kc *clientcmdapi.Config, name string) error {
	if kc.CurrentContext == name {
		return nil
	}
	ctx, ok := kc.Contexts[kc.CurrentContext]
	if !ok {
		return fmt.Errorf("kubeconfig has no current context %q", kc.CurrentContext)
	}
	delete(kc.Contexts, kc.CurrentContext)
	kc.Contexts[name] = ctx
	kc.CurrentContext = name
	return nil
}
