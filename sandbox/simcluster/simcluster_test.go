package simcluster_test

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/sandbox/simcluster"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("fast tier (-short): this package starts simulated clusters; not run")
		os.Exit(0)
	}
	simclustertest.Main(m)
}

func TestDeploymentExposeScale(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ctx := t.Context()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, cs, ns, "web", 3)
	mustKubectl(t, "-n", ns, "expose", "deployment", "web", "--port=80")

	podIPs := func(ctx context.Context) ([]string, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return nil, err
		}
		var ips []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
				ips = append(ips, p.Status.PodIP)
			}
		}
		slices.Sort(ips)
		return ips, nil
	}
	sliceIPs := func(ctx context.Context) ([]string, error) {
		sl, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		if err != nil {
			return nil, err
		}
		var ips []string
		for _, s := range sl.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ips = append(ips, e.Addresses...)
				}
			}
		}
		slices.Sort(ips)
		return ips, nil
	}
	for _, replicas := range []int{3, 5} {
		if replicas != 3 {
			mustKubectl(t, "-n", ns, "scale", "deployment", "web", fmt.Sprintf("--replicas=%d", replicas))
			waitAvailable(t, cs, ns, "web", int32(replicas))
		}
		eventually(t, fmt.Sprintf("endpoint slice lists the %d pod IPs", replicas), func(ctx context.Context) (bool, error) {
			want, err := podIPs(ctx)
			if err != nil || len(want) != replicas {
				return false, err
			}
			got, err := sliceIPs(ctx)
			if err != nil {
				return false, err
			}
			if d := cmp.Diff(want, got); d != "" {
				return false, fmt.Errorf("endpoint slice (-want +got):\n%s", d)
			}
			ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			var epIPs []string
			for _, s := range ep.Subsets {
				for _, a := range s.Addresses {
					epIPs = append(epIPs, a.IP)
				}
			}
			slices.Sort(epIPs)
			if d := cmp.Diff(want, epIPs); d != "" {
				return false, fmt.Errorf("endpoints (-want +got):\n%s", d)
			}
			return true, nil
		})
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || !podReady(&p) {
			t.Errorf("pod %s: phase %s ready %v, want Running and Ready", p.Name, p.Status.Phase, podReady(&p))
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestRolloutHistoryUndo(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	mustKubectl(t, "-n", ns, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2")
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	mustKubectl(t, "-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.26")
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	hist := mustKubectl(t, "-n", ns, "rollout", "history", "deployment/web")
	var revs []string
	for _, l := range strings.Split(hist, "\n")[2:] {
		if f := strings.Fields(l); len(f) > 0 {
			revs = append(revs, f[0])
		}
	}
	if d := cmp.Diff([]string{"1", "2"}, revs); d != "" {
		t.Fatalf("rollout history revisions (-want +got):\n%s\n%s", d, hist)
	}
	mustKubectl(t, "-n", ns, "rollout", "undo", "deployment/web")
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "nginx:1.25" {
		t.Errorf("image after undo = %q, want nginx:1.25", got)
	}
}

func TestJobCompletes(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	mustKubectl(t, "-n", ns, "create", "job", "pi", "--image=perl", "--", "perl", "-e", "print 1")
	eventually(t, "job complete", func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "pi", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return j.Status.Succeeded == 1 && j.Status.CompletionTime != nil, nil
	})
}

// TestCronJobSpawnsJob waits for the next minute boundary (up to ~60 s).
func TestCronJobSpawnsJob(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	mustKubectl(t, "-n", ns, "create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "--", "date")
	eventually(t, "cronjob spawned a completed job", func(ctx context.Context) (bool, error) {
		jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, j := range jobs.Items {
			if len(j.OwnerReferences) == 1 && j.OwnerReferences[0].Name == "tick" && j.Status.Succeeded == 1 {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestStatefulSetOrdinals(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](3),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: labels("db")},
			Template:    podTemplate("db", "postgres:16"),
		},
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(t.Context(), ss, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "statefulset ready", func(ctx context.Context) (bool, error) {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 3, err
	})
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if d := cmp.Diff([]string{"db-0", "db-1", "db-2"}, names); d != "" {
		t.Errorf("statefulset pods (-want +got):\n%s", d)
	}
}

func TestDaemonSetEveryNode(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels("agent")},
			Template: podTemplate("agent", "fluentd"),
		},
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(t.Context(), ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range nodes.Items {
		want = append(want, n.Name)
	}
	slices.Sort(want)
	eventually(t, "daemonset pod ready on every node", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var got []string
		for _, p := range pods.Items {
			if podReady(&p) {
				got = append(got, p.Spec.NodeName)
			}
		}
		slices.Sort(got)
		if d := cmp.Diff(want, got); d != "" {
			return false, fmt.Errorf("nodes with a ready pod (-want +got):\n%s", d)
		}
		return true, nil
	})
}

func pod(name string, cpuReq, cpuLim string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "nginx"}}},
	}
	if cpuReq != "" {
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim)},
		}
	}
	return p
}

func TestResourceQuotaRejects(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ctx := t.Context()
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("2"), corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourceLimitsCPU: resource.MustParse("2"),
		}},
	}
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "quota status computed", func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
		return err == nil && len(q.Status.Hard) == 3, err
	})
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("a", "500m", "1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("first pod: %v", err)
	}
	tests := []struct {
		name, wantErr string
		pod           *corev1.Pod
	}{
		{"over requests.cpu", "exceeded quota", pod("b", "800m", "1")},
		{"no limits", "must specify", pod("c", "", "")},
	}
	for _, tc := range tests {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, tc.pod, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want Forbidden containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestLimitRangeDefaults(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ctx := t.Context()
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "lr"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}},
	}
	if _, err := cs.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := cs.CoreV1().Pods(ns).Create(ctx, pod("a", "", ""), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := p.Spec.Containers[0].Resources
	want := corev1.ResourceRequirements{
		Limits:   lr.Spec.Limits[0].Default,
		Requests: lr.Spec.Limits[0].DefaultRequest,
	}
	if d := cmp.Diff(want.Limits.Cpu().String(), got.Limits.Cpu().String()) + cmp.Diff(want.Requests.Memory().String(), got.Requests.Memory().String()); d != "" {
		t.Errorf("injected resources (-want +got):\n%s", d)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("big", "2", "2"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("over-max pod: err = %v, want Forbidden", err)
	}
}

func TestServiceAccountRBAC(t *testing.T) {
	t.Parallel()
	cs := clientset(t)
	nsA, nsB := simclustertest.Namespace(t), simclustertest.Namespace(t)
	ctx := t.Context()
	if _, err := cs.CoreV1().ServiceAccounts(nsA).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "dev"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "dev", Namespace: nsA}},
	}
	if _, err := cs.RbacV1().RoleBindings(nsA).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(nsA).CreateToken(ctx, "dev", &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	admin := simclustertest.Cluster(t).AdminConfig()
	devCfg := &rest.Config{Host: admin.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}}
	dev, err := kubernetes.NewForConfig(devCfg)
	if err != nil {
		t.Fatal(err)
	}
	user := "system:serviceaccount:" + nsA + ":dev"
	tests := []struct {
		name    string
		ns      string
		do      func(ctx context.Context) error
		allowed bool
		attrs   authzv1.ResourceAttributes
	}{
		{"create configmap in own namespace", nsA, func(ctx context.Context) error {
			_, err := dev.CoreV1().ConfigMaps(nsA).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}, true, authzv1.ResourceAttributes{Namespace: nsA, Verb: "create", Resource: "configmaps"}},
		{"create configmap in other namespace", nsB, func(ctx context.Context) error {
			_, err := dev.CoreV1().ConfigMaps(nsB).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}, false, authzv1.ResourceAttributes{Namespace: nsB, Verb: "create", Resource: "configmaps"}},
		{"list nodes", "", func(ctx context.Context) error {
			_, err := dev.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		}, false, authzv1.ResourceAttributes{Verb: "list", Resource: "nodes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(t.Context())
			if tc.allowed && err != nil {
				t.Errorf("err = %v, want allowed", err)
			}
			if !tc.allowed && !apierrors.IsForbidden(err) {
				t.Errorf("err = %v, want Forbidden", err)
			}
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + nsA, "system:authenticated"},
				ResourceAttributes: &tc.attrs,
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != tc.allowed {
				t.Errorf("SubjectAccessReview allowed = %v, want %v (%s)", sar.Status.Allowed, tc.allowed, sar.Status.Reason)
			}
		})
	}
}

func TestNamespaceDeletionCompletes(t *testing.T) {
	t.Parallel()
	cs := clientset(t)
	ctx := t.Context()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "del-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "default service account", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if _, err := cs.AppsV1().Deployments(ns.Name).Create(ctx, deployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, cs, ns.Name, "web", 2)
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace gone", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func TestExecRefusedLogsCanned(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod("p", "", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod ready", func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{})
		return err == nil && podReady(p), err
	})
	marker := filepath.Join(t.TempDir(), "exec-ran")
	out, err := kubectl(t, "-n", ns, "exec", "p", "--", "touch", marker)
	if err == nil || !strings.Contains(out, "simulated") {
		t.Errorf("kubectl exec: err = %v, output %q; want a failure saying the cluster is simulated", err, out)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("exec ran on the host: %s exists (stat err %v)", marker, err)
	}
	logs := mustKubectl(t, "-n", ns, "logs", "p")
	if !strings.Contains(logs, "simulated") {
		t.Errorf("kubectl logs = %q, want the canned simulated-cluster message", logs)
	}
}

func TestEtcdRefusesPlainClient(t *testing.T) {
	t.Parallel()
	ports := simcluster.Ports(simclustertest.Cluster(t))
	for _, name := range []string{"etcd-client", "etcd-peer"} {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[name]))
		// Plain HTTP (the etcd v3 gRPC gateway) must not answer.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		_, _ = conn.Write([]byte("POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		conn.Close()
		if strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			t.Errorf("%s: plain HTTP got %q", name, buf[:n])
		}
		// TLS without a client certificate must fail the handshake.
		tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			_, _ = tc.Write([]byte("GET /version HTTP/1.1\r\nHost: x\r\n\r\n"))
			n, err = tc.Read(buf)
			tc.Close()
		}
		if err == nil {
			t.Errorf("%s: TLS client without certificate got %q", name, buf[:n])
		}
	}
}

func TestKubectlVersion(t *testing.T) {
	t.Parallel()
	out := mustKubectl(t, "version", "-o", "json")
	if !strings.Contains(out, `"gitVersion": "`+simcluster.KubernetesVersion+`"`) {
		t.Errorf("kubectl version = %s, want server %s", out, simcluster.KubernetesVersion)
	}
}

func TestStartOncePerProcess(t *testing.T) {
	t.Parallel()
	simclustertest.Cluster(t)
	_, err := simcluster.Start(t.Context(), simcluster.Options{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "once per process") {
		t.Errorf("second Start: err = %v, want the once-per-process error", err)
	}
}

func TestPodSecurityEnforced(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ctx := t.Context()
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}`)
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	p := pod("priv", "", "")
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("privileged pod in baseline namespace: err = %v, want Forbidden", err)
	}
}

// TestHostPathVolumeCannotDeleteHostFiles is an attack: a cluster's admin
// (a learner, in a cluster of their own) makes a hostPath PersistentVolume
// with reclaim policy Delete over a directory of the kubelab machine, binds
// and releases it, so the controller manager — kubelab's process — would
// remove the directory. The API server refuses such a volume (created or
// changed into one), and the directory survives.
func TestHostPathVolumeCannotDeleteHostFiles(t *testing.T) {
	t.Parallel()
	cs, ns := clientset(t), simclustertest.Namespace(t)
	ctx := t.Context()
	victim := filepath.Join(t.TempDir(), "tmp", "precious")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	pv := func(name string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: victim}},
		}}
	}
	name := "attack-" + ns
	for _, policy := range []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle} {
		_, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv(name, policy), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "must use persistentVolumeReclaimPolicy: Retain") {
			t.Errorf("hostPath volume with %s: err = %v, want Forbidden saying to use Retain", policy, err)
		}
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv(name, corev1.PersistentVolumeReclaimRetain), metav1.CreateOptions{}); err != nil {
		t.Fatalf("hostPath volume with Retain: %v", err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().PersistentVolumes().Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
	})
	patch := []byte(`{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}`)
	if _, err := cs.CoreV1().PersistentVolumes().Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("changing the volume to Delete: err = %v, want Forbidden", err)
	}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "grab"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: name, StorageClassName: ptr.To(""),
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}}}}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the claim bound", func(ctx context.Context) (bool, error) {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "grab", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound, err
	})
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "grab", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the volume released", func(ctx context.Context) (bool, error) {
		v, err := cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && v.Status.Phase == corev1.VolumeReleased, err
	})
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("the host directory is gone: %v", err)
	}
}
