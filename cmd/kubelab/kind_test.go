package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/kindcluster"
	"github.com/kubelab/kubelab/sandbox/kindcluster/kindtest"
)

// TestServeKindRealContainers is the kind backend as a learner meets it:
// `kubelab serve --sandbox=kind` keeps a warm cluster, a guest's chapter
// claims it, and kill -9 of kubelab while it creates the next warm cluster
// leaves no orphan once kubelab is back, while the learner's own cluster
// survives. In the jailed shell nginx really runs: exec, logs, a Service
// resolved by cluster DNS, and port-forward reached with curl. Ending the
// session deletes the cluster.
func TestServeKindRealContainers(t *testing.T) {
	image := kindtest.Image(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		// Whatever happens, no cluster of this test outlives it.
		for _, c := range newClusters(t, dir) {
			_ = exec.Command("docker", "rm", "-f", c+"-control-plane").Run()
		}
	})
	env := []string{"KUBELAB_SANDBOX=kind", "KUBELAB_KIND_IMAGE=" + image}
	p := startKubelab(t, dir, append(env, "KUBELAB_POOL_SIZE=1")...)
	waitPoolReady(t, p, "cluster", 5*time.Minute)
	warm := newClusters(t, dir)
	if len(warm) != 1 {
		t.Fatalf("warm clusters = %v, want one", warm)
	}

	c := newAPIClient(t, p.url)
	if code, body := c.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	// A chapter without setup: what is measured is the claim and the
	// shell, not Pods the chapter starts.
	t0 := time.Now()
	ss := startChapter(t, c, "replicasets", time.Minute)
	ready := time.Since(t0)
	term := openTerminal(t, p, c, ss.ID)
	term.waitFor(shellPrompt, 30*time.Second)
	prompt := time.Since(t0)
	term.run(`kubectl config current-context; echo ctx-$((40+1))`)
	term.waitFor("replicasets\r\nctx-41", 30*time.Second)
	t.Logf("measure: kind sandbox from the warm pool: start → ready %v, → prompt %v, → first kubectl answer %v",
		ready.Round(time.Millisecond), prompt.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))

	// The claim makes kubelab create the next warm cluster: kill it mid-create.
	var refill []string
	for deadline := time.Now().Add(2 * time.Minute); len(refill) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new warm cluster was started after the claim; kubelab said:\n%s", p.output())
		}
		refill = slices.DeleteFunc(newClusters(t, dir), func(c string) bool { return slices.Contains(warm, c) })
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	t.Logf("killed kubelab (-9) while it created %v", refill)

	p = startKubelab(t, dir, env...) // pool size 0: nothing new is made
	c.base = p.url
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		left := newClusters(t, dir)
		if slices.Equal(left, warm) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart kind clusters are %v, want only the learner's %v; kubelab said:\n%s", left, warm, p.output())
		}
	}
	if code, body := c.do("GET", "/api/v1/sessions/"+ss.ID); code != http.StatusOK || !strings.Contains(string(body), `"ready"`) {
		t.Fatalf("the learner's session after the restart: %d %s", code, body)
	}

	// The shell died with kubelab; a new one reaches the same cluster.
	term = openTerminal(t, p, c, ss.ID)
	term.run(`kubectl config current-context; echo again-$((40+1))`)
	term.waitFor("replicasets\r\nagain-41", 30*time.Second)

	term.run(`kubectl run web --image=nginx:1.27 && kubectl expose pod web --port 80 && kubectl wait --for=condition=Ready pod/web --timeout=120s && echo ready-$((40+2))`)
	term.waitFor("ready-42", 150*time.Second)
	term.run(`kubectl exec web -- cat /etc/hostname; echo exec-$((40+3))`)
	term.waitFor("web\r\nexec-43", 30*time.Second)

	// The client pod's log is printed either way, so a failure shows why.
	term.run(`kubectl run client --image=busybox:1.36 --restart=Never -- wget -qO- http://web.default.svc.cluster.local/; kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/client --timeout=90s; kubectl get pod client -o wide; kubectl logs client | grep -c '<h1>Welcome to nginx'; echo dns-$((40+4))`)
	term.waitFor("1\r\ndns-44", 120*time.Second)
	term.run(`kubectl logs web | grep -c '"GET / HTTP/1.1" 200'; echo logs-$((40+5))`)
	term.waitFor("1\r\nlogs-45", 30*time.Second)

	term.run(`(kubectl port-forward pod/web 18080:80 >/tmp/pf.log 2>&1 &); sleep 2; curl -s localhost:18080 | grep -c '<h1>Welcome to nginx'; echo pf-$((40+6))`)
	term.waitFor("1\r\npf-46", 60*time.Second)

	// Ending the session deletes its cluster.
	if code, body := c.do("DELETE", "/api/v1/sessions/"+ss.ID); code >= 300 {
		t.Fatalf("end session: %d %s", code, body)
	}
	for deadline := time.Now().Add(2 * time.Minute); len(newClusters(t, dir)) > 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("kind clusters left after the session ended: %v", newClusters(t, dir))
		}
	}
}

// waitPoolReady waits until kubelab reports a warm sandbox of the size class.
func waitPoolReady(t *testing.T, p *kubelabProc, size string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		res, err := http.Get(p.url + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, `kubelab_sandbox_pool_ready{size="`+size+`"}`) {
				continue
			}
			if n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil && n >= 1 {
				res.Body.Close()
				return
			}
		}
		res.Body.Close()
	}
	t.Fatalf("no warm sandbox after %v; kubelab said:\n%s", within, p.output())
}

// kindClusters lists the kind clusters of this machine (by node container).
func kindClusters(t *testing.T) []string {
	t.Helper()
	out, err := exec.CommandContext(context.WithoutCancel(t.Context()), "docker", "ps", "-a", "--format", `{{.Label "io.x-k8s.kind.cluster"}}`,
		"--filter", "label=io.x-k8s.kind.cluster").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	names := strings.Fields(string(out))
	slices.Sort(names)
	return slices.Compact(names)
}

// newClusters are the clusters of the kubelab on dataDir.
func newClusters(t *testing.T, dataDir string) []string {
	t.Helper()
	mine := "kl-" + instanceOf(dataDir) + "-"
	return slices.DeleteFunc(kindClusters(t), func(c string) bool { return !strings.HasPrefix(c, mine) })
}

// TestServeOnRealClusterNamespaces is `kubelab serve --kubeconfig` at a real
// cluster (a kind cluster here) with `--shell=pod`: each learner gets a
// namespace where containers really run, and a shell in a workspace pod
// that acts only with the learner's ServiceAccount. The attacks check what
// this cluster enforces: RBAC outside the namespace, Pod Security (baseline)
// and the quota. NetworkPolicy is created but the node image's CNI (the
// bridge plugin) does not enforce it; the README says so.
func TestServeOnRealClusterNamespaces(t *testing.T) {
	image := kindtest.Image(t)
	workspace := os.Getenv("KUBELAB_WORKSPACE_IMAGE")
	if workspace == "" {
		t.Fatal(`KUBELAB_WORKSPACE_IMAGE is empty: run eval "$(scripts/kind-up)" first (scripts/test does)`)
	}
	kinds := kindcluster.New(kindcluster.Options{Dir: t.TempDir(), Image: image, Instance: "realns"})
	ctx := context.WithoutCancel(t.Context())
	cluster, err := kinds.Create(ctx, "shared", sandbox.Spec{Chapter: "shared"})
	if err != nil {
		t.Fatalf("create the shared kind cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := kinds.Destroy(ctx, "shared"); err != nil {
			t.Errorf("delete the shared kind cluster: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, cluster.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	p := startKubelab(t, t.TempDir(), "KUBELAB_KUBECONFIG="+kubeconfig, "KUBELAB_SHELL=pod", "KUBELAB_WORKSPACE_IMAGE="+workspace)
	c := newAPIClient(t, p.url)
	if code, body := c.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	ss := startChapter(t, c, "pods", 2*time.Minute)
	if ss.Sandbox.Simulated {
		t.Errorf("a session on a real cluster says simulated")
	}
	term := openTerminal(t, p, c, ss.ID)
	term.run(`echo who-$(id -u); kubectl auth whoami -o jsonpath='{.status.userInfo.username}'; echo; echo ns-$((40+1))`)
	term.waitFor("system:serviceaccount:"+ss.Sandbox.Namespace+":", 2*time.Minute)
	term.waitFor("ns-41", 30*time.Second)

	term.run(`kubectl run web --image=nginx:1.27 && kubectl wait --for=condition=Ready pod/web --timeout=120s && echo ready-$((40+2))`)
	term.waitFor("ready-42", 150*time.Second)
	term.run(`kubectl exec web -- cat /etc/hostname; echo exec-$((40+3))`)
	term.waitFor("web\r\nexec-43", 30*time.Second)
	term.run(`kubectl exec web -- curl -s localhost >/dev/null; kubectl logs web | grep -c 'GET / HTTP'; echo logs-$((40+4))`)
	term.waitFor("1\r\nlogs-44", 30*time.Second)

	// Attacks: each must be refused by the cluster.
	term.run(`kubectl get pods -n kube-system 2>&1 | grep -c Forbidden; echo rbac-$((40+5))`)
	term.waitFor("1\r\nrbac-45", 30*time.Second)
	term.run(`kubectl run priv --image=busybox:1.36 --privileged -- sleep 60 2>&1 | grep -c 'violates PodSecurity'; echo psa-$((40+6))`)
	term.waitFor("1\r\npsa-46", 30*time.Second)
	term.run(`kubectl create deployment flood --image=busybox:1.36 --replicas=200 -- sleep 3600 >/dev/null; sleep 5; kubectl get events --field-selector reason=FailedCreate -o jsonpath='{.items[*].message}' | grep -c 'exceeded quota'; echo quota-$((40+7))`)
	term.waitFor("1\r\nquota-47", 60*time.Second)
	term.run(`kubectl get networkpolicy -o name | grep -c .; echo netpol-$((40+8))`)
	term.waitFor("1\r\nnetpol-48", 30*time.Second)

	// A second kubelab on the same cluster (its own data dir) sweeps for
	// orphans when it starts: this one's sandboxes are not its to delete.
	startKubelab(t, t.TempDir(), "KUBELAB_KUBECONFIG="+kubeconfig, "KUBELAB_SHELL=pod", "KUBELAB_WORKSPACE_IMAGE="+workspace)
	time.Sleep(5 * time.Second)
	admin, err := clientcmd.RESTConfigFromKubeConfig(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := kubernetes.NewForConfigOrDie(admin).CoreV1().Namespaces().Get(ctx, ss.Sandbox.Namespace, metav1.GetOptions{})
	switch {
	case err != nil:
		t.Errorf("the learner's namespace after a second kubelab started on the cluster: %v", err)
	case ns.DeletionTimestamp != nil:
		t.Errorf("a second kubelab on the cluster deleted this one's sandbox %s", ns.Name)
	}
}
