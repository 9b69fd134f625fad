// Package sandbox creates, tracks and tears down per-learner Kubernetes
// environments. Backends live in subpackages (namespaced, kindcluster); the
// Manager in this package keeps every sandbox's lifecycle. It never handles
// HTTP.
package sandbox

import (
	"context"
	"errors"
	"time"

	"k8s.io/client-go/rest"
)

// Errors a Provisioner or the Manager may return; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("sandbox not found")
	ErrCapacity = errors.New("no sandbox capacity")
	// ErrGuestCapacity: guests hold their whole share of sandboxes; the
	// rest is kept for registered learners.
	ErrGuestCapacity = errors.New("no sandbox capacity left for guests")
)

// Spec is what a chapter asks of its environment.
type Spec struct {
	Owner      string        // user id, recorded on the sandbox's objects
	Session    string        // session id, recorded on the sandbox's objects
	Chapter    string        // chapter id; names the kubeconfig context
	Size       string        // size class: "small", "medium" or "large"
	Namespaces []string      // extra namespaces by logical name
	Nodes      []string      // a cluster's nodes, the first its control plane (nil: the default layout)
	Clusters   []string      // further clusters of the learner's own, by name (cluster sandboxes only)
	TTL        time.Duration // lifetime from creation
	// Progress, if set, is called as each provisioning step completes
	// ("namespace", "rbac", "quota", "network policy", "token").
	Progress func(step string)
}

// Sandbox is a ready environment. Credentials in Config and Kubeconfig are
// scoped to the learner: a namespace-bound ServiceAccount, or the admin of a
// throwaway cluster.
type Sandbox struct {
	ID         string
	Backend    string            // "namespaced" or "kind"
	Namespace  string            // the primary namespace: where the learner works and checks look
	Namespaces map[string]string // extra namespaces: logical name → real name
	Config     *rest.Config      // learner-scoped
	Kubeconfig []byte            // learner-scoped kubeconfig, context named after the chapter
	Server     string            // API endpoint URL
	ExpiresAt  time.Time
	Simulated  bool // true on the embedded simulated cluster: no real containers run
	// Cluster: the sandbox is a whole cluster of the learner's own, who is
	// its admin; Config reads any namespace and cluster-scoped objects.
	Cluster bool
	// Others are the further clusters the chapter asked for, in its order;
	// Kubeconfig has a context for each, named after it.
	Others []OtherCluster
}

// OtherCluster is one of a learner's further clusters.
type OtherCluster struct {
	Name   string       // the chapter's name for it: its kubeconfig context
	Config *rest.Config // its admin, as for the primary cluster
}

// ClusterClass is the size class of sandboxes that are clusters of the
// learner's own (chapters with `sandbox: cluster`), as opposed to the
// namespace size classes ("small", "medium", "large").
const ClusterClass = "cluster"

// Provisioner is a sandbox backend. Implementations must be safe for
// concurrent use. Create and Destroy are idempotent for a given id: creating
// an existing sandbox returns it, destroying a missing one returns nil.
type Provisioner interface {
	// Create blocks until the sandbox is usable or ctx ends. On error it
	// leaves nothing behind, or leaves what it made for List to find.
	Create(ctx context.Context, id string, spec Spec) (*Sandbox, error)
	// Get returns ErrNotFound if no sandbox with this id exists.
	Get(ctx context.Context, id string) (*Sandbox, error)
	// Destroy deletes everything the sandbox owns; it may return before the
	// backend has finished deleting.
	Destroy(ctx context.Context, id string) error
	// List returns the ids of every sandbox this backend owns, for reaping.
	List(ctx context.Context) ([]string, error)
	// SetupConfig returns credentials that can do anything a chapter's
	// setup needs inside sandbox id (quota, limit ranges, objects in each
	// of its namespaces; on a cluster of the learner's own, its
	// cluster-scoped objects) and nothing outside it. They are never given
	// to the learner.
	SetupConfig(ctx context.Context, id string) (*rest.Config, error)
}

// Claimer is implemented by provisioners that keep warm, unowned sandboxes:
// Claim binds a sandbox created with an empty Spec.Owner to spec's owner,
// session and chapter and returns it with the learner's credentials.
type Claimer interface {
	Claim(ctx context.Context, id string, spec Spec) (*Sandbox, error)
}
