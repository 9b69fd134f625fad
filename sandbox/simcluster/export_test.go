package simcluster

import "time"

// ReadyAfter is how long Start took until the API server answered /readyz.
func ReadyAfter(c *Cluster) time.Duration { return c.readyAfter }

// Ports returns every TCP port the cluster listens on, for tests.
func Ports(c *Cluster) map[string]int {
	return map[string]int{
		"kube-apiserver": c.state.APIServerPort,
		"etcd-client":    c.state.EtcdClientPort,
		"etcd-peer":      c.state.EtcdPeerPort,
		"kubelet":        c.state.KwokPort,
	}
}
