package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
)

// TestServeOwnClusters is a `sandbox: cluster` chapter as learners meet it
// on kubelab's embedded default: the catalog says what each chapter runs
// on; a learner claims a warm simulated cluster of their own, lists its
// nodes, taints, cordons and drains one, and makes a namespace, a
// PersistentVolume and a CRD; a second learner's cluster shows none of it,
// and their jailed shell cannot reach the first cluster's API server.
// kill -9 of kubelab stops every cluster process; after the restart the
// learner's cluster is back with its objects and the orphaned warm cluster
// is gone.
func TestServeOwnClusters(t *testing.T) {
	dir := t.TempDir()
	p := startKubelab(t, dir, "KUBELAB_POOL_SIZE=1")

	a := newAPIClient(t, p.url)
	if code, body := a.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	_, body := a.do("GET", "/api/v1/chapters")
	var catalog []struct{ ID, Sandbox string }
	if err := json.Unmarshal(body, &catalog); err != nil {
		t.Fatal(err)
	}
	runsOn := map[string]string{}
	for _, ch := range catalog {
		runsOn[ch.ID] = ch.Sandbox
	}
	if runsOn["scheduling"] != "cluster" || runsOn["pods"] != "namespace" {
		t.Errorf("catalog sandbox kinds: %v; want scheduling on cluster, pods on namespace", runsOn)
	}
	_, body = a.do("GET", "/chapters/scheduling")
	if !strings.Contains(string(body), "a whole cluster of your own") || !strings.Contains(string(body), "controlplane, node01, node02") {
		t.Errorf("the scheduling page does not say it runs on a cluster of one's own with its nodes")
	}

	waitPoolReady(t, p, "cluster", 2*time.Minute)
	t0 := time.Now()
	ssA := startChapter(t, a, "scheduling", 2*time.Minute)
	if ssA.Sandbox.Kind != "simcluster" || !ssA.Sandbox.Simulated || ssA.Sandbox.Namespace != "default" {
		t.Errorf("session sandbox = %+v; want a simulated cluster of one's own (kind simcluster, namespace default)", ssA.Sandbox)
	}
	termA := openTerminal(t, p, a, ssA.ID)
	termA.waitFor(shellPrompt, 30*time.Second)
	t.Logf("measure: own simulated cluster from the warm pool (with the chapter's setup): start → prompt %v", time.Since(t0).Round(time.Millisecond))

	termA.run(`kubectl get nodes --no-headers -o custom-columns=N:.metadata.name | tr '\n' ' '; echo; kubectl auth can-i '*' '*' --all-namespaces; echo nodes-$((40+1))`)
	termA.waitFor("controlplane node01 node02 \r\nyes\r\nnodes-41", 30*time.Second)
	termA.run(`kubectl taint node node01 team=a:NoSchedule >/dev/null && kubectl cordon node02 >/dev/null && ` +
		`kubectl drain node02 --ignore-daemonsets --delete-emptydir-data --timeout=60s >/dev/null 2>&1; ` +
		`kubectl get pods -A --field-selector spec.nodeName=node02 --no-headers 2>/dev/null | grep -vc kube-system; ` +
		`kubectl get node node02 -o jsonpath='{.spec.unschedulable}'; echo; echo drained-$((40+2))`)
	termA.waitFor("0\r\ntrue\r\ndrained-42", 90*time.Second)
	termA.run(`kubectl create namespace team-a >/dev/null && kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-a}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /data/a}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
YAML
kubectl get ns/team-a pv/pv-a crd/widgets.example.com --no-headers 2>&1 | wc -l; echo made-$((40+3))`)
	termA.waitFor("3\r\nmade-43", 30*time.Second)

	// A second learner: a cluster of their own, untouched.
	b := newAPIClient(t, p.url)
	if code, body := b.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	ssB := startChapter(t, b, "scheduling", 2*time.Minute)
	termB := openTerminal(t, p, b, ssB.ID)
	termB.run(`kubectl get ns/team-a pv/pv-a crd/widgets.example.com 2>&1 | grep -c NotFound; kubectl get node node01 -o jsonpath='{.spec.taints}' | grep -c team; kubectl get node node02 -o jsonpath='{.spec.unschedulable}'; echo; echo clean-$((40+4))`)
	termB.waitFor("3\r\n0\r\n\r\nclean-44", 30*time.Second)
	// The first cluster's API server is on this host, but not in B's jail.
	_, kc := a.do("GET", "/api/v1/sessions/"+ssA.ID+"/kubeconfig")
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatalf("A's kubeconfig: %v", err)
	}
	port := cfg.Host[strings.LastIndexByte(cfg.Host, ':')+1:]
	termB.run(fmt.Sprintf(`curl -sk --max-time 5 https://127.0.0.1:%s/version >/dev/null; echo reach-$?`, port))
	termB.waitFor("reach-7", 30*time.Second) // 7: could not connect

	// kill -9: the cluster processes die with kubelab.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	waitGone(t, cfg.Host, "A's cluster, after kubelab was killed")

	// Back up without a pool: the learners' clusters stay, the warm one goes.
	p = startKubelab(t, dir)
	a.base, b.base = p.url, p.url
	waitClusterDirs(t, dir, 2)
	termA = openTerminal(t, p, a, ssA.ID)
	termA.run(`kubectl get ns/team-a pv/pv-a --no-headers 2>&1 | wc -l; echo back-$((40+5))`)
	termA.waitFor("2\r\nback-45", 90*time.Second)

	if code, body := b.do("DELETE", "/api/v1/sessions/"+ssB.ID); code >= 300 {
		t.Fatalf("end B's session: %d %s", code, body)
	}
	waitClusterDirs(t, dir, 1)
}

// waitGone waits until the API server at host stops answering.
func waitGone(t *testing.T, host, what string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err := client.Get(host + "/readyz")
		if err != nil {
			return
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s: still answers 30 s later", what)
		}
	}
}

// waitClusterDirs waits until the data dir holds n learner clusters.
func waitClusterDirs(t *testing.T, dataDir string, n int) {
	t.Helper()
	var entries []os.DirEntry
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if entries, _ = os.ReadDir(filepath.Join(dataDir, "clusters")); len(entries) == n {
			return
		}
	}
	t.Fatalf("cluster data dirs: %d, want %d", len(entries), n)
}

// TestServeFurtherClusters is a chapter with further clusters as learners
// meet it: the chapter says which; the learner's shell has a context per
// cluster (the setup already ran on prod), work done with --context
// staging lands there and not in the first cluster, and the grader sees it
// there; a second learner's shell cannot reach the first one's staging
// cluster; ending the lab stops all three clusters.
func TestServeFurtherClusters(t *testing.T) {
	dir := t.TempDir()
	p := startKubelab(t, dir)
	a := newAPIClient(t, p.url)
	if code, body := a.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	var ch struct{ Clusters []string }
	if _, body := a.do("GET", "/api/v1/chapters/contexts"); json.Unmarshal(body, &ch) != nil || strings.Join(ch.Clusters, ",") != "staging,prod" {
		t.Errorf("chapter contexts: clusters %v, want staging and prod", ch.Clusters)
	}
	if _, body := a.do("GET", "/chapters/contexts"); !strings.Contains(string(body), "each a context of your kubeconfig: staging, prod") {
		t.Errorf("the contexts page does not name its further clusters")
	}

	ss := startChapter(t, a, "contexts", 2*time.Minute)
	term := openTerminal(t, p, a, ss.ID)
	term.run(`kubectl config get-contexts -o name | sort | tr '\n' ' '; echo; kubectl config current-context; ` +
		`kubectl --context prod -n shop get deployment shop -o jsonpath='{.spec.replicas}'; echo; echo ctx-$((40+6))`)
	term.waitFor("contexts prod staging \r\ncontexts\r\n3\r\nctx-46", 30*time.Second)
	term.run(`kubectl --context staging create namespace web >/dev/null; kubectl get namespace web 2>&1 | grep -c NotFound; ` +
		`kubectl config use-context staging >/dev/null; kubectl get namespace web --no-headers | wc -l; echo made-$((40+7))`)
	term.waitFor("1\r\n1\r\nmade-47", 30*time.Second)
	waitTaskPassed(t, a, ss.ID, "staging-namespace")

	// B's jail holds B's clusters only: A's staging API server is on this
	// host, not in B's jail.
	// The downloaded kubeconfig has a context per cluster, through kubelab.
	_, kc := a.do("GET", "/api/v1/sessions/"+ss.ID+"/kubeconfig")
	raw, err := clientcmd.Load(kc)
	if err != nil || len(raw.Contexts) != 3 {
		t.Fatalf("A's kubeconfig: %v, %d contexts; want 3", err, len(raw.Contexts))
	}
	kubectl, err := kubectltest.Path()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", file, "--context", "staging", "get", "namespace", "web", "-o", "name").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "namespace/web" {
		t.Errorf("A's staging through the downloaded kubeconfig: %v\n%s", err, out)
	}
	// Where A's staging API server really listens: in kubelab's data dir.
	clusters, err := os.ReadDir(filepath.Join(dir, "clusters"))
	if err != nil || len(clusters) != 1 {
		t.Fatalf("cluster data dirs: %v, %v", clusters, err)
	}
	real, err := clientcmd.LoadFromFile(filepath.Join(dir, "clusters", clusters[0].Name(), "learner.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	staging, err := clientcmd.NewNonInteractiveClientConfig(*real, "staging", nil, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	b := newAPIClient(t, p.url)
	if code, body := b.do("POST", "/api/v1/auth/guest"); code != http.StatusCreated {
		t.Fatalf("guest: %d %s", code, body)
	}
	termB := openTerminal(t, p, b, startChapter(t, b, "contexts", 2*time.Minute).ID)
	port := staging.Host[strings.LastIndexByte(staging.Host, ':')+1:]
	termB.run(fmt.Sprintf(`kubectl --context staging get namespace web 2>&1 | grep -c NotFound; curl -sk --max-time 5 https://127.0.0.1:%s/version >/dev/null; echo reach-$?`, port))
	termB.waitFor("1\r\nreach-7", 30*time.Second) // 7: could not connect

	if code, body := a.do("DELETE", "/api/v1/sessions/"+ss.ID); code >= 300 {
		t.Fatalf("end A's session: %d %s", code, body)
	}
	waitClusterDirs(t, dir, 1)
	waitGone(t, staging.Host, "A's staging cluster, after the lab ended")
}

type taskResult struct {
	ID     string `json:"id"`
	Passed bool   `json:"passed"`
}

// waitTaskPassed waits until live grading passes the session's task.
func waitTaskPassed(t *testing.T, c *apiClient, session, task string) {
	t.Helper()
	var body []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, body = c.do("GET", "/api/v1/sessions/"+session+"/tasks")
		var results []taskResult
		if json.Unmarshal(body, &results) == nil && slices.Contains(results, taskResult{ID: task, Passed: true}) {
			return
		}
	}
	t.Fatalf("task %s not passed within 30 s: %s", task, body)
}
