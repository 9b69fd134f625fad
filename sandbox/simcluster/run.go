package simcluster

import (
	"context"
	"fmt"
	"time"
)

// Run is `kubelab cluster --data-dir D`: it starts the simulated cluster,
// logs where the admin kubeconfig is, blocks until ctx ends and then stops
// the cluster.
func Run(ctx context.Context, opts Options) error {
	c, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	c.log.Info("simulated cluster ready; to use it: export KUBECONFIG="+c.KubeconfigPath(), "kubeconfig", c.KubeconfigPath(), "endpoint", c.Endpoint())
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop simulated cluster: %w", err)
	}
	return nil
}
