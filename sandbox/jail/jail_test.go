package jail_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/jail/jailtest"
)

func TestMain(m *testing.M) { jailtest.Main(m) }

// apiServer is a stand-in for the learner's API server: TLS on the host's
// loopback, recording the bearer tokens it sees.
type apiServer struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
	byPath map[string]string // the last Authorization per path
}

func newAPIServer(t testing.TB) *apiServer {
	t.Helper()
	a := &apiServer{byPath: map[string]string{}}
	a.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.tokens = append(a.tokens, r.Header.Get("Authorization"))
		a.byPath[r.URL.Path] = r.Header.Get("Authorization")
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Success","message":"hello from %s"}`, r.URL.Path)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *apiServer) spec(t testing.TB) jail.Spec {
	t.Helper()
	var ca bytes.Buffer
	for _, c := range a.TLS.Certificates[0].Certificate {
		fmt.Fprintf(&ca, "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", b64(c))
	}
	return jail.Spec{
		ID:         strings.ReplaceAll(t.Name(), "/", "-"),
		Server:     a.URL,
		CAData:     ca.Bytes(),
		Token:      "learner-token-123",
		Namespace:  "lab-abc",
		Namespaces: map[string]string{"other": "lab-abc-other"},
		Context:    "pods",
	}
}

var (
	jailOnce sync.Once
	shared   *jail.Jail
)

// sharedJail is one Jail for the package: New probes bubblewrap and
// generates kubectl's completion once.
func sharedJail(t *testing.T) *jail.Jail {
	t.Helper()
	jailOnce.Do(func() {
		j, err := jail.New(jailtest.Options(t))
		if err != nil {
			t.Fatalf("jail.New: %v", err)
		}
		shared = j
	})
	if shared == nil {
		t.Fatal("jail.New failed in an earlier test")
	}
	return shared
}

func run(t *testing.T, spec jail.Spec, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := sharedJail(t).Run(ctx, spec, script)
	if err != nil {
		t.Fatalf("Run(%q): %v\n%s", script, err, out)
	}
	return string(out)
}

func TestRunReachesAPIServerThroughForwarder(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	out := run(t, api.spec(t), `kubectl get --raw /api/hello; echo; k get --raw /alias; echo; echo "ns=$NS other=$NS_OTHER"`)
	for _, want := range []string{"hello from /api/hello", "hello from /alias", "ns=lab-abc other=lab-abc-other"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.tokens) == 0 || api.tokens[0] != "Bearer learner-token-123" {
		t.Errorf("API server saw Authorization %q, want the learner's token", api.tokens)
	}
}

// TestFurtherClustersEachReachTheirOwn gives the shell three clusters:
// each context reaches its own API server with its own credentials, and
// the relays reach nothing else (a fourth server, not the learner's, is
// never asked).
func TestFurtherClustersEachReachTheirOwn(t *testing.T) {
	t.Parallel()
	primary, east, west, stranger := newAPIServer(t), newAPIServer(t), newAPIServer(t), newAPIServer(t)
	spec := primary.spec(t)
	for _, o := range []struct {
		name string
		api  *apiServer
	}{{"east", east}, {"west", west}} {
		other := o.api.spec(t)
		spec.Others = append(spec.Others, jail.OtherCluster{Context: o.name, Server: other.Server, CAData: other.CAData, Token: "token-" + o.name})
	}
	out := run(t, spec, `kubectl config get-contexts -o name | sort | tr '\n' ' '; echo
kubectl get --raw /primary; echo
kubectl --context east get --raw /east; echo
kubectl config use-context west >/dev/null && kubectl get --raw /west; echo
for port in 6443 6444 6445 6446; do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && echo "open $port" || echo "closed $port"; done
(exec 3<>/dev/tcp/`+strings.TrimPrefix(stranger.URL, "https://")+`) 2>/dev/null && echo "stranger reached" || echo "stranger unreachable"
kctx east >/dev/null && echo "ctx=$(kubectl config current-context)"; kns team-x; echo "ns=$(kubectl config view --minify -o jsonpath='{..namespace}')"`)
	for _, want := range []string{"east pods pods-other west", "hello from /primary", "hello from /east", "hello from /west",
		"open 6443", "open 6444", "open 6445", "closed 6446", "stranger unreachable", "ctx=east", "namespace: team-x", "ns=team-x"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []struct {
		api        *apiServer
		path, auth string
	}{{primary, "/primary", "Bearer learner-token-123"}, {east, "/east", "Bearer token-east"}, {west, "/west", "Bearer token-west"}} {
		c.api.mu.Lock()
		got, ok := c.api.byPath[c.path]
		c.api.mu.Unlock()
		if !ok || got != c.auth {
			t.Errorf("%s: Authorization %q (asked: %v), want %q", c.path, got, ok, c.auth)
		}
	}
	stranger.mu.Lock()
	defer stranger.mu.Unlock()
	if len(stranger.tokens) > 0 {
		t.Errorf("a server not the learner's was reached: %q", stranger.tokens)
	}
}

func TestFurtherClustersRefused(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	for _, tt := range []struct {
		name   string
		others []jail.OtherCluster
	}{
		{"context named like the primary", []jail.OtherCluster{{Context: "pods", Server: api.URL}}},
		{"context twice", []jail.OtherCluster{{Context: "a", Server: api.URL}, {Context: "a", Server: api.URL}}},
		{"plain http", []jail.OtherCluster{{Context: "a", Server: "http://127.0.0.1:1"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := api.spec(t)
			spec.Others = tt.others
			if out, err := sharedJail(t).Run(t.Context(), spec, "true"); err == nil {
				t.Errorf("Run with %+v: no error\n%s", tt.others, out)
			}
		})
	}
}

// TestAPIPortsWithoutForwarderAsRoot: as root, kubelab opens the jail's
// API ports itself, so no forwarder process runs in the jail; otherwise
// the forwarder does. Either way kubectl reaches its API server.
func TestAPIPortsWithoutForwarderAsRoot(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	out := run(t, api.spec(t), `kubectl get --raw /ports; echo
n=0; for p in /proc/[0-9]*; do [ "$(readlink $p/exe 2>/dev/null)" = /run/kubelab-bin/fwd ] && n=$((n+1)); done; echo "forwarders=$n"`)
	want := "forwarders=1"
	if os.Geteuid() == 0 {
		want = "forwarders=0"
	}
	for _, w := range []string{"hello from /ports", want} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestChartRepoInShell: a jail with a chart repository reaches it at
// 127.0.0.1:8879, and helm's configuration in HOME names it with its index
// cached; the repository is kubelab's handler, reached through the jail's
// loopback only.
func TestChartRepoInShell(t *testing.T) {
	t.Parallel()
	opts := jailtest.Options(t)
	opts.Charts = &jail.ChartRepo{Name: "kubelab", Index: []byte("apiVersion: v1\nentries: {}\n"),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "chart repo saw %s", r.URL.Path) })}
	j := jailtest.New(t, opts)
	api := newAPIServer(t)
	out, err := j.Run(t.Context(), api.spec(t), `curl -s http://127.0.0.1:8879/index.yaml; echo
grep -c 'url: http://127.0.0.1:8879' ~/.config/helm/repositories.yaml; cat ~/.cache/helm/repository/kubelab-index.yaml`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"chart repo saw /index.yaml", "1\napiVersion: v1\nentries: {}"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunIdentityAndEnvironment(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	out := run(t, api.spec(t), `
echo "id=$(id -u):$(id -g) user=$(whoami) home=$HOME host=$(hostname)"
echo "home:"; ls -A ~ | sort | tr '\n' ' '; echo
echo "kube:"; ls -A ~/.kube | tr '\n' ' '; echo
echo "ctx=$(kubectl config current-context) ns=$(kubectl config view --minify -o jsonpath='{..namespace}')"
echo "server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
touch ~/x /tmp/y && echo writable
for tool in kubectl bash vim nano less jq curl git; do command -v $tool >/dev/null || echo "missing $tool"; done
touch /usr/bin/x 2>/dev/null && echo "usr is writable"
ulimit -u -n -f
`)
	for _, want := range []string{
		"id=1000:1000 user=learner home=/home/learner host=kubelab",
		"home:\n.bashrc .kube .profile \n",
		"kube:\nconfig \n",
		"ctx=pods ns=lab-abc",
		"server=https://127.0.0.1:6443",
		"writable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"missing", "usr is writable"} {
		if strings.Contains(out, bad) {
			t.Errorf("output has %q:\n%s", bad, out)
		}
	}
}

func TestRunFailingScript(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	out, err := sharedJail(t).Run(t.Context(), api.spec(t), "echo before; false; echo after")
	var rerr *jail.RunError
	if !errors.As(err, &rerr) {
		t.Fatalf("Run = %v, want *RunError", err)
	}
	if diff := cmp.Diff("before\n", string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestEscapes tries, from inside the jail, everything a curious learner
// might: each attempt must fail.
func TestEscapes(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)

	// Stand-ins for what kubelab keeps on the host.
	dataDir := t.TempDir()
	os.Chmod(dataDir, 0o755) // even world-readable, it must stay invisible
	admin := filepath.Join(dataDir, "admin.kubeconfig")
	os.WriteFile(admin, []byte("admin-secret"), 0o644)
	dbSock := filepath.Join(dataDir, ".s.PGSQL.5432")
	dbl, err := net.Listen("unix", dbSock)
	if err != nil {
		t.Fatal(err)
	}
	defer dbl.Close()
	os.Chmod(dbSock, 0o777)
	// TCP services on the host: etcd, PostgreSQL, kwok, kubelab's HTTP.
	var ports []string
	var accepted atomic.Int32
	for range 4 {
		l, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	hostIPs := []string{"127.0.0.1"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				hostIPs = append(hostIPs, ipn.IP.String())
			}
		}
	}
	apiPort := api.Listener.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name   string
		script string
	}{
		{"read the data dir", "ls " + dataDir},
		{"read the admin kubeconfig", "cat " + admin},
		{"connect to the database socket", "curl -sS --max-time 2 --unix-socket " + dbSock + " http://x/"},
		{"read host /etc/shadow", "cat /etc/shadow"},
		{"read host /root", "ls /root"},
		{"read the host's kubelab state", "ls /work"},
		{"reach the API server directly", fmt.Sprintf("curl -sS -k --max-time 2 https://127.0.0.1:%d/", apiPort)},
		{"DNS", "curl -sS --max-time 2 http://example.com/"},
		{"write the system", "touch /usr/x"},
		{"become root", "unshare -r true"},
		{"see host processes", fmt.Sprintf("test -e /proc/%d", os.Getpid())},
		{"mount", "mount -t tmpfs none /tmp"},
	}
	for _, ip := range hostIPs {
		for _, port := range ports {
			tests = append(tests, struct{ name, script string }{
				"connect to " + ip + ":" + port,
				fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", ip, port),
			})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := api.spec(t)
			out, err := sharedJail(t).Run(t.Context(), spec, tt.script)
			var rerr *jail.RunError
			if !errors.As(err, &rerr) {
				t.Errorf("%q succeeded inside the jail (err %v):\n%s", tt.script, err, out)
			}
			if bytes.Contains(out, []byte("admin-secret")) {
				t.Errorf("the admin kubeconfig leaked:\n%s", out)
			}
		})
	}
	t.Cleanup(func() {
		if n := accepted.Load(); n != 0 {
			t.Errorf("host TCP services accepted %d connections from the jail", n)
		}
	})
}

func TestProcessesAreOnlyTheJails(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	out := run(t, api.spec(t), `ps -e -o comm= | sort -u | tr '\n' ' '`)
	got := strings.Fields(out)
	allowed := map[string]bool{"bwrap": true, "bash": true, "fwd": true, "ps": true, "sort": true, "tr": true}
	for _, p := range got {
		if !allowed[p] {
			t.Errorf("the jail sees process %q; all: %v", p, got)
		}
	}
}

// TestForkBombIsContained runs a fork bomb in one jail while the test
// process serves /healthz and a second jail works normally.
func TestForkBombIsContained(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer health.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	bombDone := make(chan []byte, 1)
	go func() {
		out, _ := sharedJail(t).Run(ctx, api.spec(t), `bomb() { bomb | bomb & }; bomb; sleep 30`)
		bombDone <- out
	}()

	time.Sleep(time.Second) // let it spread
	if n := jailedProcesses(t); n > 256 {
		t.Errorf("%d processes in the fork bomb's jail, want at most the limit (256)", n)
	} else {
		t.Logf("%d jailed processes during the fork bomb", n)
	}
	client := &http.Client{Timeout: time.Second}
	for i := range 10 {
		resp, err := client.Get(health.URL)
		if err != nil {
			t.Fatalf("healthz during the fork bomb (try %d): %v", i, err)
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
	}
	other := run(t, api.spec(t), "echo still-$((6*7))")
	if !strings.Contains(other, "still-42") {
		t.Errorf("a second jail during the bomb printed %q", other)
	}
	cancel()
	<-bombDone
}

func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	out.WriteString(s)
	return out.String()
}

// jailedProcesses returns the size of the largest nested pid namespace on
// this host: the fork bomb's jail (other jails hold a handful each).
func jailedProcesses(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	own, _ := os.Readlink("/proc/self/ns/pid")
	count := map[string]int{}
	for _, e := range entries {
		ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid"))
		if err != nil || ns == own {
			continue
		}
		count[ns]++
	}
	most := 0
	for _, n := range count {
		most = max(most, n)
	}
	return most
}

// shellOutput collects what a shell prints.
type shellOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *shellOutput) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		got := o.buf.String()
		o.mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t.Fatalf("the shell never printed %q; it printed:\n%s", want, o.buf.String())
}

func TestSetTokenRenewsTheShellsCredential(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	sh, out := startedShellOn(t, api)
	// The echoed command line contains "done-"; the output "done-1" only
	// once kubectl has finished.
	fmt.Fprint(sh, "kubectl get --raw /before >/dev/null; echo done-$((0+1))\r")
	out.waitFor(t, "done-1")
	if err := sh.SetToken("renewed-token-456"); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(sh, "kubectl get --raw /after >/dev/null; echo done-$((1+1))\r")
	out.waitFor(t, "done-2")
	// The learner cannot replace it with something of their own.
	fmt.Fprint(sh, "echo forged > /run/kubelab/token 2>/dev/null || echo refused-$((2+1))\r")
	out.waitFor(t, "refused-3")

	api.mu.Lock()
	defer api.mu.Unlock()
	want := map[string]string{"/before": "Bearer learner-token-123", "/after": "Bearer renewed-token-456"}
	got := map[string]string{"/before": api.byPath["/before"], "/after": api.byPath["/after"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens the API server saw (-want +got):\n%s", diff)
	}
	if err := sh.SetToken(""); err == nil {
		t.Error("SetToken accepted an empty token")
	}
}

func TestNewWithoutBubblewrapSaysWhatToInstall(t *testing.T) {
	t.Parallel()
	opts := jailtest.Options(t)
	opts.Bwrap = "kubelab-no-such-bwrap"
	_, err := jail.New(opts)
	if err == nil || !strings.Contains(err.Error(), "apt-get install bubblewrap") {
		t.Fatalf("New without bubblewrap: %v, want a message naming the package", err)
	}
}

// TestWorksAsUnprivilegedUser runs a jailed kubectl with kubelab itself not
// root: as root, it re-runs one test of this binary as nobody.
func TestWorksAsUnprivilegedUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		// This whole package is running unprivileged: the other tests prove it.
		t.Logf("running as uid %d already", os.Geteuid())
		return
	}
	self := worldReadableCopyOfThisBinary(t)
	cmd := exec.CommandContext(t.Context(), self, "-test.run", "^(TestRunReachesAPIServerThroughForwarder|TestAPIPortsWithoutForwarderAsRoot|TestChartRepoInShell|TestHomeIsTheShells|TestHomeCannotBeLeft)$", "-test.count=1", "-test.v")
	cmd.Dir = os.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "TMPDIR=" + os.TempDir(),
		jailtest.ForwarderEnv + "=" + jailtest.Options(t).Forwarder[0], jailtest.KubectlEnv + "=" + jailtest.Options(t).Tools["kubectl"]}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRunReachesAPIServerThroughForwarder") ||
		!strings.Contains(string(out), "--- PASS: TestAPIPortsWithoutForwarderAsRoot") ||
		!strings.Contains(string(out), "--- PASS: TestChartRepoInShell") ||
		!strings.Contains(string(out), "--- PASS: TestHomeIsTheShells") || !strings.Contains(string(out), "--- PASS: TestHomeCannotBeLeft") {
		t.Fatalf("the jail test as nobody: %v\n%s", err, out)
	}
}

// worldReadableCopyOfThisBinary copies the test binary out of the 0700
// directory go test builds it in, so that nobody may run it.
func worldReadableCopyOfThisBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "kubelab-jailtest-self-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "jail.test")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestForwarderInAPrivateDirectory: `go run` builds kubelab under a 0700
// directory that the jail's unprivileged uid cannot pass; as root the jail
// still starts, and its kubectl reaches the API server through the
// forwarder.
func TestForwarderInAPrivateDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root, as the suite does (scripts/test)")
	}
	opts := jailtest.Options(t)
	private := filepath.Join(t.TempDir(), "exe")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	fwd := filepath.Join(private, "kubelab")
	if err := os.Link(opts.Forwarder[0], fwd); err != nil {
		t.Fatal(err)
	}
	opts.Forwarder[0] = fwd
	j := jailtest.New(t, opts)
	api := newAPIServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := j.Run(ctx, api.spec(t), `kubectl get --raw /version`)
	if err != nil {
		t.Fatalf("jailed kubectl with a forwarder from a private directory: %v\n%s", err, out)
	}
}
