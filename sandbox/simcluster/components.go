package simcluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"
	kasapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kasopts "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kcmopts "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	schedopts "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedulingv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"
	rbacrest "k8s.io/kubernetes/pkg/registry/rbac/rest"
	schedulingrest "k8s.io/kubernetes/pkg/registry/scheduling/rest"
)

const (
	serviceCIDR = "10.96.0.0/16"
	saIssuer    = "https://kubernetes.default.svc.cluster.local"
)

var globalsOnce sync.Once

// installGlobals sets the process-wide knobs the components' cobra commands
// would normally set: klog goes to the caller's logger (warnings and errors
// only, Kubernetes is chatty) and client-go deprecation warnings are dropped.
func installGlobals(log *slog.Logger) {
	globalsOnce.Do(func() {
		h := minLevel{Handler: log.With("component", "kubernetes").Handler(), min: slog.LevelWarn}
		klog.SetLogger(logr.FromSlogHandler(h))
		rest.SetDefaultWarningHandler(rest.NoWarnings{})
	})
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// benign are Kubernetes error messages that are expected in this setup.
var benign = map[string]bool{
	"The manifest file is empty, ignoring.":              true, // metrics allow-list manifest, unused
	"Failed to ensure lease exists, will retry":          true, // kube-system not created yet at first start
	"Unable to remove endpoints from kubernetes service": true,
}

// benignErr are substrings of expected transient errors: optimistic
// concurrency races between controllers and connections closed on shutdown.
var benignErr = []string{
	"is not as new as written version",
	"use of closed network connection",
	"the object has been modified",
}

// learnerCaused are substrings of controller errors about objects in a
// sandbox that the API refuses for their own spec: a ReplicaSet whose Pods
// exceed the quota, the LimitRange or Pod Security, or are invalid. Chapters
// make them on purpose (FIX tasks) and learners by mistake; the learner
// sees them as FailedCreate events. For the operator they are noise, kept
// at debug level: at warn, a first start with warm pools logged a hundred
// errors a minute.
var learnerCaused = []string{
	"exceeded quota",
	"violates PodSecurity",
	"usage per Container is",
	"usage per Pod is",
	"is invalid:",
}

// stopping is set while Stop runs: requests cut off by the shutdown make
// the components log errors that mean nothing to the user.
var stopping atomic.Bool

func (h minLevel) Handle(ctx context.Context, r slog.Record) error {
	if benign[r.Message] || stopping.Load() {
		return nil
	}
	drop, learners := false, false
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.String()
		for _, b := range benignErr {
			if strings.Contains(v, b) {
				drop = true
				return false
			}
		}
		for _, l := range learnerCaused {
			if strings.Contains(v, l) {
				learners = true
			}
		}
		return true
	})
	if drop {
		return nil
	}
	if learners {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r = r.Clone()
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(a), min: h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(n), min: h.min}
}

// setComponentGlobals applies feature gates and emulated versions for all
// components at once: the registry is shared and may be Set only once.
func setComponentGlobals() error {
	if err := compatibility.DefaultComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("set component globals: %w", err)
	}
	return nil
}

func parseFlags(fss cliflag.NamedFlagSets, args []string) error {
	fs := pflag.NewFlagSet("component", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range fss.FlagSets {
		fs.AddFlagSet(f)
	}
	return fs.Parse(args)
}

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.opts.DataDir}, elem...)...)
}

// --- etcd ---

func (c *Cluster) startEtcd(ctx context.Context) error {
	cfg := embed.NewConfig()
	cfg.Name = "simcluster"
	cfg.Dir = c.path("etcd")
	client := url.URL{Scheme: "https", Host: "127.0.0.1:" + strconv.Itoa(c.state.EtcdClientPort)}
	peer := url.URL{Scheme: "https", Host: "127.0.0.1:" + strconv.Itoa(c.state.EtcdPeerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	// Only holders of a certificate signed by the cluster CA may talk to
	// etcd, on either port.
	tls := func() (t struct{ cert, key, ca string }) {
		return struct{ cert, key, ca string }{c.pki.crt("etcd-server"), c.pki.key("etcd-server"), c.pki.crt("ca")}
	}()
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile, cfg.ClientTLSInfo.TrustedCAFile = tls.cert, tls.key, tls.ca
	cfg.ClientTLSInfo.ClientCertAuth = true
	cfg.PeerTLSInfo.CertFile, cfg.PeerTLSInfo.KeyFile, cfg.PeerTLSInfo.TrustedCAFile = tls.cert, tls.key, tls.ca
	cfg.PeerTLSInfo.ClientCertAuth = true
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{c.path("etcd.log")}
	cfg.QuotaBackendBytes = 2 << 30
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return err
	case <-time.After(60 * time.Second):
		e.Close()
		return fmt.Errorf("not ready after 60s")
	case <-ctx.Done():
		e.Close()
		return ctx.Err()
	}
	c.run("etcd", func(ctx context.Context) error {
		select {
		case <-ctx.Done():
		case err := <-e.Err():
			e.Close()
			return err
		}
		e.Close()
		return nil
	})
	return nil
}

// --- kube-apiserver ---

func (c *Cluster) apiserverOptions() (*kasopts.ServerRunOptions, error) {
	s := kasopts.NewServerRunOptions()
	admit := s.Admission.GenericAdmission
	admit.Plugins.Register(hostPathReclaimPlugin, newHostPathReclaim)
	admit.RecommendedPluginOrder = append(admit.RecommendedPluginOrder, hostPathReclaimPlugin)
	p := c.pki
	args := []string{
		"--etcd-servers=https://127.0.0.1:" + strconv.Itoa(c.state.EtcdClientPort),
		"--etcd-cafile=" + p.crt("ca"),
		"--etcd-certfile=" + p.crt("apiserver-etcd-client"),
		"--etcd-keyfile=" + p.key("apiserver-etcd-client"),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.state.APIServerPort),
		"--advertise-address=" + advertiseIP,
		"--tls-cert-file=" + p.crt("apiserver"),
		"--tls-private-key-file=" + p.key("apiserver"),
		"--client-ca-file=" + p.crt("ca"),
		"--service-account-key-file=" + p.saPub(),
		"--service-account-signing-key-file=" + p.saKey(),
		"--service-account-issuer=" + saIssuer,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction,NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,PodSecurity,Priority,DefaultTolerationSeconds," + hostPathReclaimPlugin,
		"--kubelet-client-certificate=" + p.crt("apiserver-kubelet-client"),
		"--kubelet-client-key=" + p.key("apiserver-kubelet-client"),
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--profiling=false",
		"--requestheader-client-ca-file=" + p.crt("ca"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.crt("front-proxy-client"),
		"--proxy-client-key-file=" + p.key("front-proxy-client"),
	}
	if err := parseFlags(s.Flags(), args); err != nil {
		return nil, err
	}
	return s, nil
}

// startAPIServer builds the API server while etcdStarted is pending, then
// runs it once etcd is up: building needs no etcd, and the two took
// their time one after the other.
func (c *Cluster) startAPIServer(ctx context.Context, s *kasopts.ServerRunOptions, etcdStarted <-chan error) error {
	run, err := c.buildAPIServer(ctx, s)
	if err := <-etcdStarted; err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	run()
	return nil
}

func (c *Cluster) buildAPIServer(ctx context.Context, s *kasopts.ServerRunOptions) (run func(), _ error) {
	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, utilerrors.NewAggregate(errs)
	}
	// kasapp.Run, but without the hook that adds the system
	// PriorityClasses: it sleeps a second before its first try, which was a
	// third of a warm start. ensureSystemPriorityClasses does its job.
	config, err := kasapp.NewConfig(completed)
	if err != nil {
		return nil, err
	}
	disabled := config.KubeAPIs.ControlPlane.Generic.DisabledPostStartHooks
	disabled.Insert(schedulingrest.PostStartHookName)
	// The RBAC hook, too, waits a second before its first write. Once a
	// start of this version has written the policy, later starts reconcile
	// it beside serving.
	warm := c.state.RBACPolicyOf == KubernetesVersion
	if warm {
		disabled.Insert(rbacrest.PostStartHookName)
	}
	done, err := config.Complete()
	if err != nil {
		return nil, err
	}
	chain, err := kasapp.CreateServerChain(done)
	if err != nil {
		return nil, err
	}
	prepared, err := chain.PrepareRun()
	if err != nil {
		return nil, err
	}
	_, reconcile, err := rbacrest.RESTStorageProvider{}.PostStartHook()
	if err != nil {
		return nil, err
	}
	return func() {
		c.run("kube-apiserver", prepared.Run)
		if warm {
			c.run("rbac-policy", func(ctx context.Context) error {
				return reconcile(genericapiserver.PostStartHookContext{LoopbackClientConfig: c.AdminConfig(), Context: ctx})
			})
		}
	}, nil
}

// ensureSystemPriorityClasses creates system-cluster-critical and
// system-node-critical where they are missing, as the API server's own
// hook would.
func (c *Cluster) ensureSystemPriorityClasses(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return fmt.Errorf("system priority classes: %w", err)
	}
	for _, pc := range schedulingv1.SystemPriorityClasses() {
		_, err := cs.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}

// --- kube-controller-manager ---

func (c *Cluster) controllerManagerOptions() (*kcmopts.KubeControllerManagerOptions, error) {
	s, err := kcmopts.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	kc := c.path("kubeconfigs", "controller-manager.kubeconfig")
	nfs := s.Flags(kcmapp.KnownControllers(), kcmapp.ControllersDisabledByDefault(), kcmapp.ControllerAliases())
	s.ParsedFlags = &nfs
	args := []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.pki.saKey(),
		"--root-ca-file=" + c.pki.crt("ca"),
		"--cluster-signing-cert-file=" + c.pki.crt("ca"),
		"--cluster-signing-key-file=" + c.pki.key("ca"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--controllers=*",
		"--kube-api-qps=300",
		"--kube-api-burst=300",
		// Each sync waits on the API server; with hundreds of sandboxes on
		// two cores the default five workers fell minutes behind the
		// chapters' rollouts.
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		"--concurrent-statefulset-syncs=10",
		"--concurrent-job-syncs=10",
	}
	if err := parseFlags(nfs, args); err != nil {
		return nil, err
	}
	return s, nil
}

func (c *Cluster) startControllerManager(ctx context.Context, s *kcmopts.KubeControllerManagerOptions) error {
	cfg, err := s.Config(ctx, kcmapp.KnownControllers(), kcmapp.ControllersDisabledByDefault(), kcmapp.ControllerAliases())
	if err != nil {
		return err
	}
	completed := cfg.Complete()
	c.run("kube-controller-manager", func(ctx context.Context) error {
		return kcmapp.Run(ctx, completed)
	})
	return nil
}

// --- kube-scheduler ---

func (c *Cluster) schedulerOptions() (*schedopts.Options, error) {
	s := schedopts.NewOptions()
	kc := c.path("kubeconfigs", "scheduler.kubeconfig")
	cfgPath := c.path("kubeconfigs", "scheduler-config.yaml")
	cfg := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 300
  burst: 300
leaderElection:
  leaderElect: false
`, kc)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write scheduler config: %w", err)
	}
	args := []string{
		"--config=" + cfgPath,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
	}
	if err := parseFlags(*s.Flags, args); err != nil {
		return nil, err
	}
	return s, nil
}

func (c *Cluster) startScheduler(ctx context.Context, s *schedopts.Options) error {
	// Setup's context outlives Start: informers and the scheduler run on it.
	runCtx, cancel := context.WithCancel(context.Background())
	cc, sched, err := schedapp.Setup(runCtx, s)
	if err != nil {
		cancel()
		return err
	}
	comp := c.run("kube-scheduler", func(ctx context.Context) error {
		go func() { <-ctx.Done(); cancel() }()
		err := schedapp.Run(runCtx, cc, sched)
		if runCtx.Err() != nil {
			return nil // "finished without leader elect" after cancel
		}
		return err
	})
	_ = comp
	return nil
}

// --- kubeconfigs ---

// writeKubeconfigs writes the admin kubeconfig (with embedded credentials, so
// it can be copied elsewhere) and one per component.
func (c *Cluster) writeKubeconfigs() error {
	if err := os.MkdirAll(c.path("kubeconfigs"), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig dir: %w", err)
	}
	for _, name := range []string{"admin", "controller-manager", "scheduler", "kwok"} {
		path := c.path("kubeconfigs", name+".kubeconfig")
		if name == "admin" {
			path = c.path("admin.kubeconfig")
			c.kubeconfig = path
		}
		if err := c.writeKubeconfig(path, name); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) writeKubeconfig(path, certName string) error {
	ca, err := os.ReadFile(c.pki.crt("ca"))
	if err != nil {
		return err
	}
	crt, err := os.ReadFile(c.pki.crt(certName))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(c.pki.key(certName))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["simcluster"] = &clientcmdapi.Cluster{Server: c.endpoint, CertificateAuthorityData: ca}
	cfg.AuthInfos[certName] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts["simcluster"] = &clientcmdapi.Context{Cluster: "simcluster", AuthInfo: certName, Namespace: "default"}
	cfg.CurrentContext = "simcluster"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

func (c *Cluster) restConfig(certName string) (*rest.Config, error) {
	cfg := &rest.Config{
		Host: c.endpoint,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   c.pki.crt("ca"),
			CertFile: c.pki.crt(certName),
			KeyFile:  c.pki.key(certName),
		},
		QPS:   200,
		Burst: 400,
	}
	// Load the files now so the config stays usable if the data dir moves.
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{cfg.CAFile, &cfg.CAData}, {cfg.CertFile, &cfg.CertData}, {cfg.KeyFile, &cfg.KeyData}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.path, err)
		}
		*f.dst = b
	}
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = "", "", ""
	return cfg, nil
}
