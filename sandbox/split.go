package sandbox

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
)

// Split is a Provisioner that makes sandboxes of the size class
// ClusterClass with Clusters and every other with Namespaces: on the
// embedded default, namespaces on the shared simulated cluster and
// clusters of one's own beside it. A sandbox id belongs to the first of
// the two that knows it, Clusters first.
type Split struct {
	Namespaces Provisioner
	Clusters   Provisioner
}

var (
	_ Provisioner = Split{}
	_ Claimer     = Split{}
)

func (s Split) by(size string) Provisioner {
	if size == ClusterClass {
		return s.Clusters
	}
	return s.Namespaces
}

// owner is the provisioner that knows sandbox id.
func (s Split) owner(ctx context.Context, id string) (Provisioner, *Sandbox, error) {
	sb, err := s.Clusters.Get(ctx, id)
	if err == nil {
		return s.Clusters, sb, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	sb, err = s.Namespaces.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return s.Namespaces, sb, nil
}

// Create makes the sandbox with the provisioner of spec's size class.
func (s Split) Create(ctx context.Context, id string, spec Spec) (*Sandbox, error) {
	return s.by(spec.Size).Create(ctx, id, spec)
}

// Claim claims a warm sandbox of spec's size class.
func (s Split) Claim(ctx context.Context, id string, spec Spec) (*Sandbox, error) {
	c, ok := s.by(spec.Size).(Claimer)
	if !ok {
		return nil, fmt.Errorf("claim %s: sandboxes of size class %q are not pooled", id, spec.Size)
	}
	return c.Claim(ctx, id, spec)
}

// Get returns the sandbox from whichever provisioner knows it.
func (s Split) Get(ctx context.Context, id string) (*Sandbox, error) {
	_, sb, err := s.owner(ctx, id)
	return sb, err
}

// Destroy destroys the sandbox in both: each ignores an id it does not know.
func (s Split) Destroy(ctx context.Context, id string) error {
	return errors.Join(s.Clusters.Destroy(ctx, id), s.Namespaces.Destroy(ctx, id))
}

// List lists the sandboxes of both.
func (s Split) List(ctx context.Context) ([]string, error) {
	a, err := s.Clusters.List(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.Namespaces.List(ctx)
	if err != nil {
		return nil, err
	}
	return append(a, b...), nil
}

// SetupConfig returns the setup credentials from the provisioner that knows id.
func (s Split) SetupConfig(ctx context.Context, id string) (*rest.Config, error) {
	p, _, err := s.owner(ctx, id)
	if err != nil {
		return nil, err
	}
	return p.SetupConfig(ctx, id)
}
