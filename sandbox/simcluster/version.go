package simcluster

import (
	_ "unsafe" // for go:linkname

	_ "k8s.io/client-go/pkg/version" // linked below
	cbversion "k8s.io/component-base/version"
)

// KubernetesVersion is the version the simulated cluster reports on /version.
const KubernetesVersion = "v1.36.1"

// The Kubernetes build normally stamps these with -ldflags -X. kubelab is run
// with a plain `go run`, so set them at init instead: without them /version
// reports "v0.0.0-master+$Format:%H$" and kubectl version fails to parse it.

//go:linkname cbGitVersion k8s.io/component-base/version.gitVersion
var cbGitVersion string

//go:linkname cbGitMajor k8s.io/component-base/version.gitMajor
var cbGitMajor string

//go:linkname cbGitMinor k8s.io/component-base/version.gitMinor
var cbGitMinor string

//go:linkname cbGitTreeState k8s.io/component-base/version.gitTreeState
var cbGitTreeState string

//go:linkname cbGitCommit k8s.io/component-base/version.gitCommit
var cbGitCommit string

//go:linkname cgGitVersion k8s.io/client-go/pkg/version.gitVersion
var cgGitVersion string

//go:linkname cgGitMajor k8s.io/client-go/pkg/version.gitMajor
var cgGitMajor string

//go:linkname cgGitMinor k8s.io/client-go/pkg/version.gitMinor
var cgGitMinor string

//go:linkname cgGitCommit k8s.io/client-go/pkg/version.gitCommit
var cgGitCommit string

func init() {
	// Respect real ldflags if a release build set them.
	if cbGitMajor == "" {
		cbGitVersion, cbGitMajor, cbGitMinor, cbGitTreeState, cbGitCommit = KubernetesVersion, "1", "36", "clean", ""
		// version.Get reads a copy taken at the package's init; refresh it
		// (allowed because it now equals gitVersion).
		if err := cbversion.SetDynamicVersion(KubernetesVersion); err != nil {
			panic("simcluster: set kubernetes version: " + err.Error())
		}
	}
	if cgGitMajor == "" {
		cgGitVersion, cgGitMajor, cgGitMinor, cgGitCommit = KubernetesVersion, "1", "36", ""
	}
}
