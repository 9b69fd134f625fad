// Package namespaced owns the namespace-per-learner sandbox backend: for
// each sandbox it makes one namespace (plus the chapter's extra namespaces)
// with a learner ServiceAccount bound to a namespace-admin ClusterRole that
// cannot loosen its own limits, a ResourceQuota and LimitRange from the size
// class, NetworkPolicies isolating it from other sandboxes, and a short-lived
// token renewed before it expires.
package namespaced

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"

	"github.com/kubelab/kubelab/sandbox"
)

// Names of the cluster-wide and per-namespace objects kubelab owns.
const (
	ClusterRoleName    = "kubelab-learner"
	ServiceAccountName = "learner"
	RoleBindingName    = "kubelab-learner"
	// SetupRoleName is the ClusterRole, bound in each sandbox namespace, of
	// the account that runs a chapter's setup.
	SetupRoleName = "kubelab-setup"
	// SystemNamespace holds the setup accounts: outside every sandbox, so
	// that no learner can run a Pod as one.
	SystemNamespace = "kubelab-system"
)

// setupAccount names the setup ServiceAccount of sandbox id.
func setupAccount(id string) string { return "setup-" + id }

// Options configure New.
type Options struct {
	Config    *rest.Config // cluster admin; used to build sandboxes
	Simulated bool         // the embedded simulated cluster: no container runs
	Log       *slog.Logger
	TokenTTL  time.Duration // lifetime of each learner token; default 1h, at least 10m
	// Instance names this kubelab among others sharing the cluster (and
	// parallel tests); List sees only its own sandboxes. Default "kubelab".
	Instance string
}

// Provisioner makes namespaced sandboxes. It implements sandbox.Provisioner
// and sandbox.Claimer.
type Provisioner struct {
	o      Options
	cs     kubernetes.Interface
	caData []byte

	roleMu   sync.Mutex
	roleOK   bool // cluster-wide objects ensured
	enforced bool // admission policies seen in force

	mu    sync.Mutex
	cache map[string]*entry
}

// entry holds a sandbox's learner token source, shared by every Config
// handed out for it.
type entry struct {
	spec   sandbox.Spec
	ns     string
	extra  map[string]string
	tokens *tokenSource
}

var _ sandbox.Provisioner = (*Provisioner)(nil)
var _ sandbox.Claimer = (*Provisioner)(nil)

// New returns a Provisioner for the cluster o.Config administers.
func New(o Options) *Provisioner {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Instance == "" {
		o.Instance = "kubelab"
	}
	if o.TokenTTL < 10*time.Minute {
		o.TokenTTL = time.Hour
	}
	cfg := rest.CopyConfig(o.Config)
	cfg.QPS, cfg.Burst = 200, 400
	cs := kubernetes.NewForConfigOrDie(cfg)
	ca := o.Config.CAData
	if len(ca) == 0 && o.Config.CAFile != "" {
		ca, _ = os.ReadFile(o.Config.CAFile) // an unreadable CA shows up as TLS errors on first use
	}
	return &Provisioner{o: o, cs: cs, caData: ca, cache: map[string]*entry{}}
}

func (p *Provisioner) progress(spec sandbox.Spec, step string) {
	if spec.Progress != nil {
		spec.Progress(step)
	}
}

// Create makes sandbox id, or returns it if it exists. A Spec without Owner
// makes a warm, unowned sandbox for Claim (no token is issued).
func (p *Provisioner) Create(ctx context.Context, id string, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if err := p.ensureCluster(ctx); err != nil {
		return nil, err
	}
	names := map[string]string{"": sandbox.NamespaceName(id, "")}
	for _, l := range spec.Namespaces {
		names[l] = sandbox.NamespaceName(id, l)
	}
	for _, l := range append([]string{""}, spec.Namespaces...) {
		if err := p.namespace(ctx, id, l, names[l], spec); err != nil {
			return nil, err
		}
		// Pods are refused until the namespace has its "default" account.
		// The service account controller makes it, but behind a hundred
		// new namespaces that took minutes (scripts/soak): make it here,
		// before the quota exists (a create that finds it made already
		// would count against the quota until the quota controller's next
		// recount).
		if err := create(ctx, p.cs.CoreV1().ServiceAccounts(names[l]).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
			return nil, fmt.Errorf("create the default service account in %s: %w", names[l], err)
		}
	}
	p.progress(spec, "namespace")
	primary := names[""]
	if err := create(ctx, p.cs.CoreV1().ServiceAccounts(primary).Create, &corev1.ServiceAccount{
		ObjectMeta: meta(ServiceAccountName, id),
	}); err != nil {
		return nil, fmt.Errorf("create service account in %s: %w", primary, err)
	}
	for _, ns := range names {
		if err := create(ctx, p.cs.RbacV1().RoleBindings(ns).Create, &rbacv1.RoleBinding{
			ObjectMeta: meta(RoleBindingName, id),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ClusterRoleName},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: ServiceAccountName, Namespace: primary}},
		}); err != nil {
			return nil, fmt.Errorf("create role binding in %s: %w", ns, err)
		}
	}
	setupSA := meta(setupAccount(id), id)
	setupSA.Labels[sandbox.LabelInstance] = p.o.Instance
	if err := create(ctx, p.cs.CoreV1().ServiceAccounts(SystemNamespace).Create, &corev1.ServiceAccount{ObjectMeta: setupSA}); err != nil {
		return nil, fmt.Errorf("create setup account of %s: %w", id, err)
	}
	for _, ns := range names {
		if err := create(ctx, p.cs.RbacV1().RoleBindings(ns).Create, &rbacv1.RoleBinding{
			ObjectMeta: meta(SetupRoleName, id),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: SetupRoleName},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: setupAccount(id), Namespace: SystemNamespace}},
		}); err != nil {
			return nil, fmt.Errorf("create setup role binding in %s: %w", ns, err)
		}
	}
	if err := p.checkEnforced(ctx, primary); err != nil {
		return nil, err
	}
	p.progress(spec, "rbac")
	q, lr := sizeClass(spec.Size)
	for _, ns := range names {
		if err := create(ctx, p.cs.CoreV1().ResourceQuotas(ns).Create, &corev1.ResourceQuota{
			ObjectMeta: meta("kubelab-quota", id), Spec: corev1.ResourceQuotaSpec{Hard: q},
		}); err != nil {
			return nil, fmt.Errorf("create resource quota in %s: %w", ns, err)
		}
		if err := create(ctx, p.cs.CoreV1().LimitRanges(ns).Create, &corev1.LimitRange{
			ObjectMeta: meta("kubelab-limits", id), Spec: lr,
		}); err != nil {
			return nil, fmt.Errorf("create limit range in %s: %w", ns, err)
		}
	}
	p.progress(spec, "quota")
	for _, ns := range names {
		if err := create(ctx, p.cs.NetworkingV1().NetworkPolicies(ns).Create, isolation(id)); err != nil {
			return nil, fmt.Errorf("create network policy in %s: %w", ns, err)
		}
	}
	p.progress(spec, "network policy")
	if spec.Owner == "" {
		return &sandbox.Sandbox{ID: id, Backend: "namespaced", Namespace: primary, Simulated: p.o.Simulated, Server: p.o.Config.Host}, nil
	}
	e := p.remember(id, spec, names)
	if _, err := e.tokens.Token(); err != nil {
		return nil, fmt.Errorf("issue token for %s: %w", id, err)
	}
	p.progress(spec, "token")
	return p.sandbox(id, e)
}

// Claim binds a warm sandbox to spec's owner, session and chapter.
func (p *Provisioner) Claim(ctx context.Context, id string, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if len(spec.Namespaces) > 0 {
		return nil, errors.New("claim: warm sandboxes have no extra namespaces")
	}
	ns := sandbox.NamespaceName(id, "")
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q,%q:%q,%q:%q},"annotations":{%q:%q}}}`,
		sandbox.LabelOwner, spec.Owner, sandbox.LabelSession, spec.Session,
		sandbox.LabelExpires, expires(spec), sandbox.AnnChapter, spec.Chapter)
	if _, err := p.cs.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("claim %s: %w", id, sandbox.ErrNotFound)
		}
		return nil, fmt.Errorf("label namespace %s: %w", ns, err)
	}
	e := p.remember(id, spec, map[string]string{"": ns})
	if _, err := e.tokens.Token(); err != nil {
		return nil, fmt.Errorf("issue token for %s: %w", id, err)
	}
	p.progress(spec, "token")
	return p.sandbox(id, e)
}

func expires(spec sandbox.Spec) string {
	if spec.TTL <= 0 {
		return ""
	}
	return strconv.FormatInt(time.Now().Add(spec.TTL).Unix(), 10)
}

func (p *Provisioner) namespace(ctx context.Context, id, logical, name string, spec sandbox.Spec) error {
	labels := map[string]string{
		sandbox.LabelManagedBy: sandbox.ManagedBy,
		sandbox.LabelSandbox:   id,
		sandbox.LabelLogical:   logical,
		sandbox.LabelInstance:  p.o.Instance,
		// Baseline refuses what could reach the node; no warn label: a
		// restricted warning on every Pod buried the "created" line of
		// lessons that never ask for restricted.
		"pod-security.kubernetes.io/enforce": "baseline",
	}
	if spec.Owner != "" {
		labels[sandbox.LabelOwner] = spec.Owner
		labels[sandbox.LabelSession] = spec.Session
		labels[sandbox.LabelExpires] = expires(spec)
	}
	_, err := p.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: labels,
		Annotations: map[string]string{sandbox.AnnChapter: spec.Chapter, sandbox.AnnSize: spec.Size},
	}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var ns *corev1.Namespace
		ns, err = p.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp != nil {
			return fmt.Errorf("create namespace %s: it is still being deleted", name)
		}
	}
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

func meta(name, id string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy, sandbox.LabelSandbox: id}}
}

// create makes obj, treating AlreadyExists as success (Create is idempotent).
func create[T any](ctx context.Context, fn func(context.Context, T, metav1.CreateOptions) (T, error), obj T) error {
	_, err := fn(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (p *Provisioner) remember(id string, spec sandbox.Spec, names map[string]string) *entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.cache[id]; ok && e.spec.Session == spec.Session {
		return e
	}
	extra := map[string]string{}
	for l, n := range names {
		if l != "" {
			extra[l] = n
		}
	}
	spec.Progress = nil
	e := &entry{spec: spec, ns: names[""], extra: extra, tokens: &tokenSource{p: p, ns: names[""]}}
	p.cache[id] = e
	return e
}

// Get returns the sandbox, rebuilding its credentials after a restart.
func (p *Provisioner) Get(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	p.mu.Lock()
	e, ok := p.cache[id]
	p.mu.Unlock()
	if ok {
		return p.sandbox(id, e)
	}
	list, err := p.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sandbox.LabelSandbox + "=" + id})
	if err != nil {
		return nil, fmt.Errorf("list namespaces of %s: %w", id, err)
	}
	var spec sandbox.Spec
	names := map[string]string{}
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil {
			continue
		}
		l := ns.Labels[sandbox.LabelLogical]
		names[l] = ns.Name
		if l == "" {
			spec = sandbox.Spec{Owner: ns.Labels[sandbox.LabelOwner], Session: ns.Labels[sandbox.LabelSession],
				Chapter: ns.Annotations[sandbox.AnnChapter], Size: ns.Annotations[sandbox.AnnSize]}
		} else {
			spec.Namespaces = append(spec.Namespaces, l)
		}
	}
	if names[""] == "" {
		return nil, fmt.Errorf("sandbox %s: %w", id, sandbox.ErrNotFound)
	}
	return p.sandbox(id, p.remember(id, spec, names))
}

func (p *Provisioner) sandbox(id string, e *entry) (*sandbox.Sandbox, error) {
	tok, err := e.tokens.Token()
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", id, err)
	}
	cfg := &rest.Config{
		Host: p.o.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: p.caData, ServerName: p.o.Config.ServerName, Insecure: p.o.Config.Insecure,
		},
		QPS: 50, Burst: 100,
		WrapTransport: transport.TokenSourceWrapTransport(e.tokens),
	}
	kc, err := p.kubeconfig(e, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	var exp time.Time
	if e.spec.TTL > 0 {
		exp = time.Now().Add(e.spec.TTL)
	}
	return &sandbox.Sandbox{
		ID: id, Backend: "namespaced", Namespace: e.ns, Namespaces: e.extra,
		Config: cfg, Kubeconfig: kc, Server: p.o.Config.Host, ExpiresAt: exp, Simulated: p.o.Simulated,
	}, nil
}

func (p *Provisioner) kubeconfig(e *entry, token string) ([]byte, error) {
	ctxName := e.spec.Chapter
	if ctxName == "" {
		ctxName = "kubelab"
	}
	c := clientcmdapi.NewConfig()
	c.Clusters["kubelab"] = &clientcmdapi.Cluster{Server: p.o.Config.Host, CertificateAuthorityData: p.caData,
		TLSServerName: p.o.Config.ServerName, InsecureSkipTLSVerify: p.o.Config.Insecure && len(p.caData) == 0}
	c.AuthInfos["learner"] = &clientcmdapi.AuthInfo{Token: token}
	c.Contexts[ctxName] = &clientcmdapi.Context{Cluster: "kubelab", AuthInfo: "learner", Namespace: e.ns}
	for l, n := range e.extra {
		c.Contexts[ctxName+"-"+l] = &clientcmdapi.Context{Cluster: "kubelab", AuthInfo: "learner", Namespace: n}
	}
	c.CurrentContext = ctxName
	b, err := clientcmd.Write(*c)
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	return b, nil
}

// SetupConfig returns short-lived credentials of the sandbox's setup account:
// it may do anything inside the sandbox's namespaces (quota, limit ranges,
// pre-broken objects) and nothing outside them. They are for running a
// chapter's setup and are never given to the learner.
func (p *Provisioner) SetupConfig(ctx context.Context, id string) (*rest.Config, error) {
	secs := int64(10 * 60) // the shortest lifetime TokenRequest allows
	tr, err := p.cs.CoreV1().ServiceAccounts(SystemNamespace).CreateToken(ctx, setupAccount(id),
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("setup credentials of %s: %w", id, sandbox.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("setup credentials of %s: %w", id, err)
	}
	return &rest.Config{
		Host:        p.o.Config.Host,
		BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: p.caData, ServerName: p.o.Config.ServerName, Insecure: p.o.Config.Insecure,
		},
	}, nil
}

// Destroy deletes every namespace of the sandbox (the cluster deletes their
// contents in the background) and its setup account.
func (p *Provisioner) Destroy(ctx context.Context, id string) error {
	p.mu.Lock()
	delete(p.cache, id)
	p.mu.Unlock()
	err := p.cs.CoreV1().ServiceAccounts(SystemNamespace).Delete(ctx, setupAccount(id), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete setup account of %s: %w", id, err)
	}
	list, err := p.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sandbox.LabelSandbox + "=" + id})
	if err != nil {
		return fmt.Errorf("list namespaces of %s: %w", id, err)
	}
	names := []string{sandbox.NamespaceName(id, "")}
	for _, ns := range list.Items {
		if !slices.Contains(names, ns.Name) {
			names = append(names, ns.Name)
		}
	}
	for _, n := range names {
		err := p.cs.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", n, err)
		}
	}
	return nil
}

// List returns the ids of sandboxes kubelab made that are not being deleted.
func (p *Provisioner) List(ctx context.Context) ([]string, error) {
	list, err := p.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sandbox.LabelManagedBy + "=" + sandbox.ManagedBy + "," + sandbox.LabelSandbox +
		"," + sandbox.LabelInstance + "=" + p.o.Instance})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var ids []string
	for _, ns := range list.Items {
		id := ns.Labels[sandbox.LabelSandbox]
		if ns.DeletionTimestamp == nil && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	// A setup account whose namespaces are gone is a sandbox half-deleted.
	sas, err := p.cs.CoreV1().ServiceAccounts(SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: sandbox.LabelSandbox +
		"," + sandbox.LabelInstance + "=" + p.o.Instance})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("list setup accounts: %w", err)
	}
	if err == nil {
		for _, sa := range sas.Items {
			if id := sa.Labels[sandbox.LabelSandbox]; !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// tokenSource issues learner tokens through TokenRequest and renews them
// once two thirds of their lifetime has passed.
type tokenSource struct {
	p   *Provisioner
	ns  string
	mu  sync.Mutex
	tok *oauth2.Token
	at  time.Time // when tok is due for renewal
}

// Token implements oauth2.TokenSource.
func (t *tokenSource) Token() (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && time.Now().Before(t.at) {
		return t.tok, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	secs := int64(t.p.o.TokenTTL / time.Second)
	tr, err := t.p.cs.CoreV1().ServiceAccounts(t.ns).CreateToken(ctx, ServiceAccountName,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		if t.tok != nil && time.Now().Before(t.tok.Expiry) {
			return t.tok, nil // keep using the old one while it lasts
		}
		return nil, fmt.Errorf("request token in %s: %w", t.ns, err)
	}
	now := time.Now()
	exp := tr.Status.ExpirationTimestamp.Time
	t.tok = &oauth2.Token{AccessToken: tr.Status.Token, TokenType: "Bearer", Expiry: exp}
	t.at = now.Add(exp.Sub(now) * 2 / 3)
	return t.tok, nil
}

// isolation lets pods talk within the sandbox's namespaces and reach DNS,
// and nothing else.
func isolation(id string) *netv1.NetworkPolicy {
	mine := netv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{sandbox.LabelSandbox: id}}}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	return &netv1.NetworkPolicy{
		ObjectMeta: meta("kubelab-isolation", id),
		Spec: netv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []netv1.PolicyType{netv1.PolicyTypeIngress, netv1.PolicyTypeEgress},
			Ingress:     []netv1.NetworkPolicyIngressRule{{From: []netv1.NetworkPolicyPeer{mine}}},
			Egress: []netv1.NetworkPolicyEgressRule{
				{To: []netv1.NetworkPolicyPeer{mine}},
				{
					To: []netv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
						MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}}},
					Ports: []netv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
				},
			},
		},
	}
}

// sizeClass returns the quota and limit range of a size class; unknown
// classes get "small".
func sizeClass(size string) (corev1.ResourceList, corev1.LimitRangeSpec) {
	f := map[string]int64{"medium": 2, "large": 4}[size]
	if f == 0 {
		f = 1
	}
	q := func(n int64, unit string) resource.Quantity {
		return resource.MustParse(strconv.FormatInt(n*f, 10) + unit)
	}
	hard := corev1.ResourceList{
		corev1.ResourcePods:                   q(10, ""), // running ones
		corev1.ResourceRequestsCPU:            q(1, ""),
		corev1.ResourceRequestsMemory:         q(1, "Gi"),
		corev1.ResourceLimitsCPU:              q(2, ""),
		corev1.ResourceLimitsMemory:           q(3, "Gi"),
		corev1.ResourceServices:               q(10, ""),
		corev1.ResourceServicesLoadBalancers:  q(3, ""), // chapter 5 teaches NodePort and LoadBalancer
		corev1.ResourceServicesNodePorts:      q(4, ""),
		corev1.ResourcePersistentVolumeClaims: q(2, ""),
		corev1.ResourceRequestsStorage:        q(5, "Gi"),
		// Object counts bound what one sandbox can store in the etcd all
		// sandboxes share: every kind the learner may create has one
		// (TestQuotaCountsEveryCreatableKind).
		"count/pods":                                   q(30, ""), // finished ones too: a Job's stay
		corev1.ResourceConfigMaps:                      q(20, ""),
		corev1.ResourceSecrets:                         q(20, ""),
		corev1.ResourceReplicationControllers:          q(5, ""),
		"count/endpoints":                              q(20, ""), // the endpoints controller makes one per Service
		"count/serviceaccounts":                        q(10, ""),
		"count/deployments.apps":                       q(10, ""),
		"count/replicasets.apps":                       q(30, ""),
		"count/statefulsets.apps":                      q(5, ""),
		"count/daemonsets.apps":                        q(3, ""),
		"count/controllerrevisions.apps":               q(60, ""), // made for StatefulSets and DaemonSets
		"count/jobs.batch":                             q(10, ""),
		"count/cronjobs.batch":                         q(5, ""),
		"count/horizontalpodautoscalers.autoscaling":   q(5, ""),
		"count/poddisruptionbudgets.policy":            q(5, ""),
		"count/ingresses.networking.k8s.io":            q(5, ""),
		"count/leases.coordination.k8s.io":             q(5, ""),
		"count/roles.rbac.authorization.k8s.io":        q(10, ""),
		"count/rolebindings.rbac.authorization.k8s.io": q(10, ""), // two are kubelab's
	}
	lr := corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:           corev1.LimitTypeContainer,
		Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Max:            corev1.ResourceList{corev1.ResourceCPU: q(1, ""), corev1.ResourceMemory: q(1, "Gi")},
	}}}
	return hard, lr
}

// Capacity is what the cluster's nodes must offer together for sandboxes
// sandboxes at once, each as demanding as the most demanding of specs: the
// pods and the CPU and memory requests their quotas allow, in every
// namespace. Give it to simcluster.Options.Capacity.
func Capacity(sandboxes int, specs ...sandbox.Spec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, spec := range specs {
		hard, _ := sizeClass(spec.Size)
		for name, res := range map[corev1.ResourceName]corev1.ResourceName{
			corev1.ResourcePods:   corev1.ResourcePods,
			corev1.ResourceCPU:    corev1.ResourceRequestsCPU,
			corev1.ResourceMemory: corev1.ResourceRequestsMemory,
		} {
			q := hard[res]
			need := *resource.NewMilliQuantity(q.MilliValue()*int64(1+len(spec.Namespaces))*int64(sandboxes), q.Format)
			if cur, ok := out[name]; !ok || need.Cmp(cur) > 0 {
				out[name] = need
			}
		}
	}
	return out
}
