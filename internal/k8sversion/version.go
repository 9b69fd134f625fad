// Package k8sversion stamps the Kubernetes version into the Kubernetes
// libraries a binary links (the API server's /version, kubectl's client
// version), as the Kubernetes build does with -ldflags. Import it for its
// effect; Version is what it stamps.
package k8sversion

import (
	_ "unsafe" // for go:linkname

	_ "k8s.io/client-go/pkg/version" // linked below
	cbversion "k8s.io/component-base/version"
)

// Version is the Kubernetes release kubelab embeds: the simulated
// cluster and the built-in kubectl report it.
const Version = "v1.36.1"

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
		cbGitVersion, cbGitMajor, cbGitMinor, cbGitTreeState, cbGitCommit = Version, "1", "36", "clean", ""
		// version.Get reads a copy taken at the package's init; refresh it
		// (allowed because it now equals gitVersion).
		if err := cbversion.SetDynamicVersion(Version); err != nil {
			panic("k8sversion: set kubernetes version: " + err.Error())
		}
	}
	if cgGitMajor == "" {
		cgGitVersion, cgGitMajor, cgGitMinor, cgGitCommit = Version, "1", "36", ""
	}
}
