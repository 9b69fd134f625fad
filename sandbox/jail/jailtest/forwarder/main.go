// Command forwarder is the in-jail API forwarder for tests: what
// "kubelab forward" is in production, without kubelab's dependencies.
// jailtest builds it without the race detector, as kubelab is shipped:
// a race-instrumented forwarder reserves most of the jail's 2 GiB address
// space limit and dies when a learner holds many connections.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/sandbox/jail"
)

func main() {
	routes, err := jail.ParseRoutes(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: forwarder LISTEN-ADDR SOCKET [...]:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := jail.Forward(ctx, routes, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
