package simcluster

import "github.com/kubelab/kubelab/internal/k8sversion"

// KubernetesVersion is the version the simulated cluster reports on
// /version (k8sversion stamps it into the components it runs).
const KubernetesVersion = k8sversion.Version
