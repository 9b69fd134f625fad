package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelab/kubelab/internal/kubectl/kubectltest"
	"github.com/kubelab/kubelab/sandbox"
)

// TestDownloadedKubeconfigWorksFromOutside: kubectl on the learner's own
// machine (here: outside any jail, with nothing but the downloaded file)
// reaches their sandbox through kubelab's URL, as the learner and nothing
// more; the file is no key to another lab, a forged token gets nothing,
// and an ended lab answers that it is gone.
func TestDownloadedKubeconfigWorksFromOutside(t *testing.T) {
	t.Parallel()
	kubectl, err := kubectltest.Path()
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestStack(t)
	owner := guest(t, ts)
	mine := startReady(t, owner, "pods")
	other := guest(t, ts)
	theirs := startReady(t, other, "pods")

	download := func(c *testClient, id string) string {
		t.Helper()
		res, body := c.raw(t, "GET", "/api/v1/sessions/"+id+"/kubeconfig", "", nil)
		if res.StatusCode != 200 {
			t.Fatalf("download kubeconfig: %d %s", res.StatusCode, body)
		}
		if !strings.Contains(string(body), "server: "+ts.url+"/kube/"+id+".") {
			t.Fatalf("the kubeconfig does not name kubelab's URL:\n%s", body)
		}
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	kc := download(owner, mine.ID)
	run := func(config string, args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), kubectl, append([]string{"--kubeconfig", config, "--request-timeout", "20s"}, args...)...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run(kc, "create", "configmap", "from-home", "--from-literal=k=v"); err != nil || !strings.Contains(out, "configmap/from-home created") {
		t.Fatalf("kubectl create through the proxy: %v\n%s", err, out)
	}
	if out, err := run(kc, "get", "configmap", "from-home", "-o", "jsonpath={.data.k}"); err != nil || out != "v" {
		t.Errorf("kubectl get through the proxy: %v\n%s", err, out)
	}
	if out, err := run(kc, "get", "pods", "-n", "kube-system"); err == nil || !strings.Contains(out, "Forbidden") {
		t.Errorf("kubectl in kube-system: %v\n%s\nwant Forbidden: the proxy acts with the learner's credentials only", err, out)
	}

	// My file with the other lab's address: my token is not theirs.
	stolen, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	swapped := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(swapped, []byte(strings.ReplaceAll(string(stolen), "/kube/"+mine.ID+".", "/kube/"+theirs.ID+".")), 0o600); err != nil {
		t.Fatal(err)
	}
	// (kubectl's discovery prints its own sentence for a 401.)
	const refused = "You must be logged in to the server"
	if out, err := run(swapped, "get", "configmaps"); err == nil || !strings.Contains(out, refused) {
		t.Errorf("my token on another's lab: %v\n%s\nwant Unauthorized", err, out)
	}
	forged := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(forged, []byte(strings.Replace(string(stolen), "/kube/"+mine.ID+".", "/kube/"+mine.ID+".x", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(forged, "get", "configmaps"); err == nil || !strings.Contains(out, refused) {
		t.Errorf("a forged token: %v\n%s\nwant it refused", err, out)
	}
	// A kubelab cookie or API token is not needed, and a stranger's
	// request to the proxy gets no kubelab page either.
	if res, body := other.raw(t, "GET", "/kube/"+mine.ID+"/api/v1/namespaces", "", nil); res.StatusCode != 401 {
		t.Errorf("another learner's browser at the proxy: %d %s, want 401", res.StatusCode, body)
	}

	if res, body := owner.raw(t, "DELETE", "/api/v1/sessions/"+mine.ID, "", nil); res.StatusCode/100 != 2 {
		t.Fatalf("end the lab: %d %s", res.StatusCode, body)
	}
	if out, err := run(kc, "get", "configmaps"); err == nil || !strings.Contains(out, "ServiceUnavailable") {
		t.Errorf("kubectl after the lab ended: %v\n%s", err, out)
	}
}

// TestDownloadedKubeconfigNamesThePublicURL: behind a reverse proxy the
// kubeconfig names --public-url, where the learner's kubectl reaches
// kubelab, not the address kubelab listens on.
func TestDownloadedKubeconfigNamesThePublicURL(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, func(_ *sandbox.ManagerOptions, o *Options) {
		o.PublicURL = "http://labs.example.org:8443"
	})
	// The browser addresses kubelab by its public name.
	c := ts.client(t)
	c.header = map[string]string{"Host": "labs.example.org:8443", "Origin": "http://labs.example.org:8443"}
	if res, body := c.do(t, "POST", "/api/v1/auth/guest", nil); res.StatusCode/100 != 2 {
		t.Fatalf("guest: %d %s", res.StatusCode, body)
	}
	ss := startReady(t, c, "pods")
	res, body := c.raw(t, "GET", "/api/v1/sessions/"+ss.ID+"/kubeconfig", "", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), "server: http://labs.example.org:8443/kube/"+ss.ID+".") {
		t.Fatalf("kubeconfig: %d\n%s\nwant its server under http://labs.example.org:8443/kube/", res.StatusCode, body)
	}
}
