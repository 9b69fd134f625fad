package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubelab/kubelab/sandbox/childcluster"
)

// TestMain lets the test binary stand in for the kubelab binary: started
// with KUBELAB_TEST_AS_KUBELAB=1 it runs main, so the tests below drive real
// kubelab processes (and the jail's forwarder re-executes the same binary).
func TestMain(m *testing.M) {
	// The jail starts its forwarder as `<binary> forward …` and its kubectl
	// by that name, with a clean environment: that, too, is this binary
	// standing in for kubelab.
	if os.Getenv("KUBELAB_TEST_AS_KUBELAB") == "1" || os.Getenv(childcluster.EnvChild) != "" || len(os.Args) > 1 && os.Args[1] == "forward" ||
		toolNamed(os.Args[0]) != nil {
		main()
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "kubelab-cmd-test-")
	if err == nil {
		kubelabBin, err = copyExecutable(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cmd/kubelab tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kubelabBin is a copy of this test binary that the jail's unprivileged
// user can read: go test builds it in a directory only we may enter.
var kubelabBin string

func copyExecutable(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer src.Close()
	path := filepath.Join(dir, "kubelab")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	return path, dst.Close()
}

// kubelabProc is one kubelab serve process under test.
type kubelabProc struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
}

func (p *kubelabProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *kubelabProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startKubelab runs `kubelab serve` on dataDir and waits for /readyz.
func startKubelab(t testing.TB, dataDir string, extraEnv ...string) *kubelabProc {
	t.Helper()
	if testing.Short() {
		t.Skip("fast tier (-short): starts kubelab serve; run without -short")
	}
	addr := freeAddr(t)
	p := &kubelabProc{url: "http://" + addr}
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir}
	if !slices.ContainsFunc(extraEnv, func(e string) bool { return strings.HasPrefix(e, "KUBELAB_POOL_SIZE=") }) {
		args = append(args, "--pool-size", "0")
	}
	p.cmd = exec.Command(kubelabBin, args...)
	p.cmd.Env = append(os.Environ(), append([]string{"KUBELAB_TEST_AS_KUBELAB=1", "KUBELAB_ADMIN_PASSWORD=admin-password-for-tests",
		// A missing k9s is built by scripts/test once, not by every kubelab a test starts.
		"KUBELAB_BUILD_TOOLS=false"}, extraEnv...)...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("kubelab on %s never became ready; its output:\n%s", dataDir, p.output())
	return nil
}

func (p *kubelabProc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("kubelab exited with %v; output:\n%s", err, p.output())
	}
	if !strings.Contains(p.output(), "shutting down") {
		t.Errorf("kubelab did not log a graceful shutdown:\n%s", p.output())
	}
}

func (p *kubelabProc) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", p.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", p.url)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeRestartAndCrash is the foundation's promise: the run command
// serves with nothing running beforehand, a restart keeps every account,
// and a kill -9 of kubelab (leaving its PostgreSQL orphaned) recovers.
func TestServeRestartAndCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startKubelab(t, dir)
	if code, body := p.post(t, "/api/v1/auth/signup", `{"email":"keep@example.com","password":"persistent password"}`); code != http.StatusCreated {
		t.Fatalf("signup: %d %s", code, body)
	}
	p.stop(t)

	p = startKubelab(t, dir)
	if code, body := p.post(t, "/api/v1/auth/login", `{"email":"keep@example.com","password":"persistent password"}`); code != http.StatusOK {
		t.Fatalf("login after restart: %d %s", code, body)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p = startKubelab(t, dir)
	if code, body := p.post(t, "/api/v1/auth/login", `{"email":"keep@example.com","password":"persistent password"}`); code != http.StatusOK {
		t.Fatalf("login after kill -9: %d %s", code, body)
	}
	p.stop(t)
}

// TestTwoInstancesSideBySide runs two kubelabs on two data dirs at once.
func TestTwoInstancesSideBySide(t *testing.T) {
	t.Parallel()
	a := startKubelab(t, t.TempDir())
	b := startKubelab(t, t.TempDir())
	if code, body := a.post(t, "/api/v1/auth/signup", `{"email":"only-in-a@example.com","password":"password of a"}`); code != http.StatusCreated {
		t.Fatalf("signup on a: %d %s", code, body)
	}
	if code, _ := b.post(t, "/api/v1/auth/login", `{"email":"only-in-a@example.com","password":"password of a"}`); code != http.StatusUnauthorized {
		t.Fatalf("login on b with a's account: %d, want 401 (separate databases)", code)
	}
	a.stop(t)
	b.stop(t)
}

// TestFirstStartPrintsAdminPassword checks the generated admin password is
// printed once and works.
func TestFirstStartPrintsAdminPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startKubelab(t, dir, "KUBELAB_ADMIN_PASSWORD=", "KUBELAB_ADMIN_EMAIL=boss@example.com")
	out := p.output()
	_, after, ok := strings.Cut(out, "password (shown once): ")
	if !ok {
		t.Fatalf("no generated admin password in the output:\n%s", out)
	}
	password := strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
	if code, body := p.post(t, "/api/v1/auth/login", fmt.Sprintf(`{"email":"boss@example.com","password":%q}`, password)); code != http.StatusOK {
		t.Fatalf("admin login with the printed password: %d %s", code, body)
	}
	if strings.Contains(strings.ReplaceAll(out, "password (shown once): "+password, ""), password) {
		t.Error("the admin password appears in the output more than once (logged?)")
	}
	p.stop(t)
}

// TestKindWithoutDockerFailsClearly: --sandbox=kind checks Docker at start.
// The engine being down is faked (the real one runs for the other kind
// tests): a docker command that answers as the client does without a daemon.
func TestKindWithoutDockerFailsClearly(t *testing.T) {
	t.Parallel()
	t.Log("fake: a docker command whose engine is down, standing in for a machine without a Docker daemon")
	bin := t.TempDir()
	fake := "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n"
	if err := os.WriteFile(bin+"/docker", []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubelabBin, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir(), "--sandbox", "kind")
	cmd.Env = append(os.Environ(), "KUBELAB_TEST_AS_KUBELAB=1", "KUBELAB_ADMIN_PASSWORD=admin-password-for-tests",
		"PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve --sandbox=kind started without a Docker engine:\n%s", out)
	}
	for _, want := range []string{"--sandbox=kind needs a running Docker engine", "Cannot connect to the Docker daemon"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkServeStartToReady measures the Run command's start: process
// start → /readyz answering 200, on a fresh data dir (initdb, PKI, etcd,
// first migrations) and on a warm restart of the same data dir.
func BenchmarkServeStartToReady(b *testing.B) {
	measure := func(b *testing.B, dir func() string) {
		var total time.Duration
		for b.Loop() {
			t0 := time.Now()
			p := startKubelab(b, dir())
			total += time.Since(t0)
			p.stop(b)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s-to-ready")
	}
	b.Run("first", func(b *testing.B) { measure(b, b.TempDir) })
	b.Run("warm", func(b *testing.B) {
		dir := b.TempDir()
		startKubelab(b, dir).stop(b)
		measure(b, func() string { return dir })
	})
}

// TestServeRefusesAnInvalidLab: a broken chapter stops kubelab at start,
// naming the file and line, before anything listens. A symlinked asset (an
// attack: assets are served without login) is one of the problems.
func TestServeRefusesAnInvalidLab(t *testing.T) {
	t.Parallel()
	labsDir := t.TempDir()
	chapter := filepath.Join(labsDir, "01-broken")
	files := map[string]string{
		"chapter.yaml": "id: broken\ntitle: Broken\ncolour: red\n",
		"01-only.md":   "# Only\n",
		"tasks.yaml":   "tasks:\n  - id: one\n    step: 01-only\n    title: One\n    checks:\n      - resource: {apiVersion: v1, kind: Pod, name: x}\n        expr: \"object.spec.(\"\n    solution: \"true\"\n",
	}
	writeFiles(t, chapter, files)
	if err := os.Symlink("/etc/shadow", filepath.Join(chapter, "leak.png")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubelabBin, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir(), "--labs-dir", labsDir)
	cmd.Env = append(os.Environ(), "KUBELAB_TEST_AS_KUBELAB=1", "KUBELAB_ADMIN_PASSWORD=admin-password-for-tests")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started with a broken lab:\n%s", out)
	}
	for _, want := range []string{"refusing to start", "01-broken/chapter.yaml:3", "colour", "01-broken/tasks.yaml:",
		"01-broken/leak.png: symbolic links are not allowed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "kubelab is serving") {
		t.Errorf("kubelab served before refusing:\n%s", out)
	}
}

// TestServeRefusesABrokenCheck: a chapter that parses but whose check does
// not compile stops kubelab too, before it serves.
func TestServeRefusesABrokenCheck(t *testing.T) {
	t.Parallel()
	chapter := filepath.Join(t.TempDir(), "01-broken")
	files := map[string]string{
		"chapter.yaml": "id: broken\ntitle: Broken\n",
		"01-only.md":   "# Only\n",
		"tasks.yaml":   "tasks:\n  - id: one\n    step: 01-only\n    title: One\n    checks:\n      - resource: {apiVersion: v1, kind: Pod, name: x}\n        expect: \"object.spec.(\"\n    solution: \"true\"\n",
	}
	writeFiles(t, chapter, files)
	cmd := exec.Command(kubelabBin, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir(), "--labs-dir", filepath.Dir(chapter))
	cmd.Env = append(os.Environ(), "KUBELAB_TEST_AS_KUBELAB=1", "KUBELAB_ADMIN_PASSWORD=admin-password-for-tests", "KUBELAB_BUILD_TOOLS=false")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started with a check that does not compile:\n%s", out)
	}
	for _, want := range []string{"refusing to start: invalid chapters", "broken", "one"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "kubelab is serving") {
		t.Errorf("kubelab served before refusing:\n%s", out)
	}
}

// writeFiles writes files (name → content) into dir, made if needed.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
