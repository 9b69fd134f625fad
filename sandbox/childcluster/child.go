package childcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/sandbox/simcluster"
)

// EnvChild, when set, makes a process a cluster child: its value is the
// child's configuration, and the binary's main must hand it to Child.
const EnvChild = "KUBELAB_CHILD_CLUSTER"

// childConfig is what the parent tells a child.
type childConfig struct {
	DataDir string   `json:"dataDir"`
	Nodes   []string `json:"nodes"` // the first is the control plane
	Parent  int      `json:"parent"`
}

// Child runs the cluster described by config (EnvChild's value) until ctx
// ends or the parent process is gone, then stops it. It writes the ready
// file once the cluster's nodes are Ready. Log lines go to stderr.
func Child(ctx context.Context, config string, stderr io.Writer) error {
	var cc childConfig
	if err := json.Unmarshal([]byte(config), &cc); err != nil {
		return fmt.Errorf("cluster child: bad %s: %w", EnvChild, err)
	}
	if cc.DataDir == "" || len(cc.Nodes) == 0 {
		return fmt.Errorf("cluster child: %s names no data dir or nodes", EnvChild)
	}
	ctx, cancel := context.WithCancel(ctx)
	var watcher sync.WaitGroup
	defer watcher.Wait()
	defer cancel()
	watcher.Go(func() { watchParent(ctx, cc.Parent, cancel) })
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := simcluster.Start(ctx, simcluster.Options{DataDir: cc.DataDir, NodeNames: cc.Nodes, ControlPlaneNode: cc.Nodes[0], Log: log})
	if err != nil {
		return err
	}
	if err := ensureDefaultServiceAccount(ctx, cl.AdminConfig()); err != nil {
		_ = cl.Stop(context.WithoutCancel(ctx))
		return err
	}
	if err := os.WriteFile(filepath.Join(cc.DataDir, readyFile), nil, 0o600); err != nil {
		return fmt.Errorf("cluster child: %w", err)
	}
	<-ctx.Done()
	stopCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer stop()
	return cl.Stop(stopCtx)
}

// watchParent cancels when the parent is gone: the kernel's parent-death
// signal covers a crash, this covers the rest (it fires when the thread
// that started the child exits, not the process).
func watchParent(ctx context.Context, parent int, cancel context.CancelFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				cancel()
				return
			}
		}
	}
}

// ensureDefaultServiceAccount makes the ServiceAccount every Pod of the
// default namespace needs, instead of waiting up to a second and a half
// for the controller manager's own to come round: a learner's first
// `kubectl run` must not be refused for want of it.
func ensureDefaultServiceAccount(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cluster child: %w", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), nil
	})
	if err != nil {
		return fmt.Errorf("cluster child: make the default ServiceAccount: %w", err)
	}
	return nil
}
