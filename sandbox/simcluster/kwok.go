package simcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	kwokversioned "sigs.k8s.io/kwok/pkg/client/clientset/versioned"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcontrollers "sigs.k8s.io/kwok/pkg/kwok/controllers"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	kwokclient "sigs.k8s.io/kwok/pkg/utils/client"
	kwoklifecycle "sigs.k8s.io/kwok/pkg/utils/lifecycle"
)

// cannedLog is what `kubectl logs` shows for every container (CRI log format;
// kubeletServer strips the prefix).
const cannedLog = `2026-01-01T00:00:00.000000000Z stdout F This is a simulated Kubernetes cluster (kubelab): no container really runs here.
2026-01-01T00:00:00.000000001Z stdout F The pod is scheduled and reported Running, but there is no process and no real output.
`

// argsMu guards os.Args, which kwok's config loader reads directly.
var argsMu sync.Mutex

// kwokConfig loads kwok's configuration. kwok reads os.Args for it, so
// this runs before any component goroutine that reads os.Args too (client-go
// builds its user agent from it).
func (c *Cluster) kwokConfig() (context.Context, error) {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		docs[i] = strings.TrimSpace(d)
	}
	cfgPath := c.path("kubeconfigs", "kwok.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write kwok config: %w", err)
	}

	kctx := kwoklog.NewContext(context.Background(), kwoklog.NewLogger(slogWriter{c.log.With("component", "kwok")}, kwoklog.LevelWarn))
	argsMu.Lock()
	saved := os.Args
	// kwok's InitFlags parses os.Args itself and otherwise falls back to
	// ~/.kwok/kwok.yaml.
	os.Args = []string{"kwok", "--config=" + cfgPath}
	kctx, err := kwokconfig.InitFlags(kctx, pflag.NewFlagSet("kwok-config", pflag.ContinueOnError))
	os.Args = saved
	argsMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("load kwok config: %w", err)
	}
	return kctx, nil
}

// podPlayParallelism is how many pod changes kwok plays at once. Each waits
// on the API server, which is slow when hundreds of sandboxes share two
// cores: with kwok's default of 4, a Pod that was deleted and made again
// (`kubectl replace --force`) waited over a minute behind the queue in a
// 500-sandbox soak.
const podPlayParallelism = 16

// startKwok runs kwok's stage controller with the default fast node and pod
// stages: nodes become Ready, pods Running and Ready with IPs, Job pods
// Succeeded.
func (c *Cluster) startKwok(ctx, kctx context.Context) error {
	conf := kwokconfig.GetKwokConfiguration(kctx).Options
	stages := kwokconfig.FilterWithTypeFromContext[*internalversion.Stage](kctx)
	groups := map[internalversion.StageResourceRef][]*internalversion.Stage{}
	for _, st := range stages {
		groups[st.Spec.ResourceRef] = append(groups[st.Spec.ResourceRef], st)
	}
	warmStageCEL(ctx, stages)

	// kwok's own cobra command is not used: its kubelet-like server never
	// closes its listener, calls os.Exit on errors and would run `kubectl
	// exec` commands on the host if configured. The stage controller is
	// wired here directly and kubeletServer answers the API server instead.
	clientset, err := kwokclient.NewClientset("", c.path("kubeconfigs", "kwok.kubeconfig"))
	if err != nil {
		return fmt.Errorf("kwok clientset: %w", err)
	}
	restConfig, err := clientset.ToRESTConfig()
	if err != nil {
		return err
	}
	dynamicClient, err := clientset.ToDynamicClient()
	if err != nil {
		return err
	}
	restMapper, err := clientset.ToRESTMapper()
	if err != nil {
		return err
	}
	restClient, err := rest.RESTClientFor(restConfig)
	if err != nil {
		return err
	}
	typedClient, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	typedKwokClient, err := kwokversioned.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	// kwok only manages nodes whose lease it holds. A fixed identity lets a
	// restarted kwok take over the previous run's leases at once instead of
	// waiting for them to expire (40 s with new pods stuck Pending).
	const id = "simcluster-kwok"
	ctr, err := kwokcontrollers.NewController(kwokcontrollers.Config{
		Clock:                           clock.RealClock{},
		DynamicClient:                   dynamicClient,
		RESTClient:                      restClient,
		RESTMapper:                      restMapper,
		ImpersonatingDynamicClient:      clientset.ToImpersonatingDynamicClient(),
		ImpersonatingTypedClient:        clientset.ToImpersonatingTypedClient(),
		TypedClient:                     typedClient,
		TypedKwokClient:                 typedKwokClient,
		ManageAllNodes:                  true,
		CIDR:                            c.state.podCIDR(),
		NodeIP:                          "127.0.0.1",
		NodePort:                        c.state.KwokPort,
		LocalStages:                     groups,
		PodPlayStageParallelism:         max(conf.PodPlayStageParallelism, podPlayParallelism),
		NodePlayStageParallelism:        conf.NodePlayStageParallelism,
		NodeLeaseDurationSeconds:        40,
		NodeLeaseParallelism:            conf.NodeLeaseParallelism,
		PodsOnNodeSyncParallelism:       conf.PodsOnNodeSyncParallelism,
		EnablePodsOnNodeSyncListPager:   conf.EnablePodsOnNodeSyncListPager,
		EnablePodsOnNodeSyncStreamWatch: conf.EnablePodsOnNodeSyncStreamWatch,
		ID:                              id,
	})
	if err != nil {
		return fmt.Errorf("kwok controller: %w", err)
	}

	srv, err := c.newKubeletServer()
	if err != nil {
		return err
	}
	c.run("kwok", func(ctx context.Context) error {
		if err := ctr.Start(mergeCancel(kctx, ctx)); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	c.run("kubelet-server", srv.run)
	return nil
}

// mergeCancel returns values' values with done's cancellation.
func mergeCancel(values, done context.Context) context.Context {
	ctx, cancel := context.WithCancel(values)
	go func() { <-done.Done(); cancel() }()
	return ctx
}

// slogWriter re-emits kwok's JSON log lines as warn records of log. kwok's
// errors are mostly benign races (a pod deleted while a stage applies), so
// they are not reported as errors.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	s := bufio.NewScanner(bytes.NewReader(p))
	for s.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(s.Bytes(), &rec); err != nil {
			if line := strings.TrimSpace(s.Text()); line != "" {
				w.log.Warn(line)
			}
			continue
		}
		msg, _ := rec["msg"].(string)
		if errText, _ := rec["err"].(string); strings.Contains(errText, "not found") {
			continue // stage raced with deletion
		}
		attrs := make([]any, 0, 2*len(rec))
		for k, v := range rec {
			switch k {
			case "time", "msg", "source", "id":
			default:
				attrs = append(attrs, k, v)
			}
		}
		w.log.Warn(msg, attrs...)
	}
	return len(p), nil
}

// warmStageCEL matches a Node and a Pod against kwok's stages once, alone,
// before any controller runs: a stage builds its CEL environment lazily on
// first match, kwok's controllers match from several goroutines at once,
// and easycel caches types in a package-level map without a lock (a data
// race the race detector found). Afterwards that map is only read.
func warmStageCEL(ctx context.Context, stages []*internalversion.Stage) {
	warmStageCELOnce.Do(func() {
		lc, err := kwoklifecycle.NewLifecycle(stages)
		if err != nil {
			return
		}
		for _, obj := range []any{&corev1.Node{}, &corev1.Pod{}} {
			_, _ = lc.Match(ctx, &kwoklifecycle.Event{Data: obj})
		}
	})
}

var warmStageCELOnce sync.Once
