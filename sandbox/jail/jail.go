// Package jail runs a learner's shell on this host inside bubblewrap: an
// interactive bash on a PTY (Shell) or a non-interactive script (Run). It
// owns everything the learner can see from there: a new user, pid, mount,
// ipc, uts and network namespace; read-only system directories and a short
// list of /etc files; a private HOME holding only the learner's kubeconfig
// and a .bashrc; sized tmpfs for HOME, /tmp, /var/tmp and /dev/shm under a
// read-only root; an unprivileged uid; rlimits; a cgroup per jail (memory,
// pids, CPU weight; cgroup.go) where kubelab can make one; and a seccomp filter that
// refuses the system calls a learner never needs (seccomp.go).
//
// The jail's network has loopback only. kubectl inside connects to
// 127.0.0.1:6443, which this package relays, byte for byte, to the
// learner's API server. As root, kubelab opens that port itself inside the
// jail's network namespace (netns.go); otherwise a forwarder started inside
// (the kubelab binary's hidden "forward" subcommand, bind-mounted
// read-only) listens there and passes each connection to a unix socket
// this package serves outside. TLS stays end to end: the jail's kubeconfig
// names 127.0.0.1:6443 and sets tls-server-name to the real host. So the
// shell reaches its Kubernetes API and nothing else. A learner with further
// clusters (Spec.Others) gets one relay and one forwarder port per cluster
// (127.0.0.1:6444, 6445, …), each a context of the kubeconfig.
package jail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// Limits are the rlimits every process in a jail gets. Zero values pick
// the defaults.
type Limits struct {
	// Processes caps the processes and threads of one jail (RLIMIT_NPROC,
	// counted per jail because each has its own user namespace; default 256).
	Processes int
	// OpenFiles caps open files per process (RLIMIT_NOFILE, default 1024).
	OpenFiles int
	// FileSize caps the size of any file written (RLIMIT_FSIZE, default 64 MiB).
	// HOME and /tmp are tmpfs, so this also bounds the memory one file takes.
	FileSize int64
	// Memory caps each process's address space (RLIMIT_AS, default 4 GiB:
	// Go programs reserve more than they use, and the kubelab binary as
	// kubectl reserves 1.8 GiB before it does anything; at 2 GiB it died
	// under load). The jail's cgroup bounds what they really use.
	Memory int64
	// TmpSize caps each of the jail's writable directories: /tmp, /var/tmp,
	// /dev/shm and HOME (tmpfs size, default 64 MiB). Everything else the
	// learner sees is read-only.
	TmpSize int64
	// TotalMemory caps the memory all of a jail's processes use together,
	// tmpfs pages included (its cgroup, where kubelab can make one; default
	// 512 MiB). Processes is also the cgroup's pids.max.
	TotalMemory int64
}

func (l *Limits) defaults() {
	if l.Processes == 0 {
		l.Processes = 256
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = 1024
	}
	if l.FileSize == 0 {
		l.FileSize = 64 << 20
	}
	if l.Memory == 0 {
		l.Memory = 4 << 30
	}
	if l.TmpSize == 0 {
		l.TmpSize = 64 << 20
	}
	if l.TotalMemory == 0 {
		l.TotalMemory = 512 << 20
	}
}

// Options configures a Jail.
type Options struct {
	// Bwrap is the bubblewrap binary (default: "bwrap" on PATH).
	Bwrap string
	// Forwarder is the argv prefix that runs Forward inside the jail; in
	// production [path of the kubelab binary, "forward"]. Its first element
	// is bind-mounted read-only into the jail. The jail appends the listen
	// address and the socket path.
	Forwarder []string
	// StateDir holds a small directory per shell (the relay's unix socket).
	// It must not be inside kubelab's data dir. Default: a directory under
	// os.TempDir().
	StateDir string
	// Charts, if set, is a Helm chart repository every shell reaches at
	// http://127.0.0.1:8879, configured as repository Charts.Name.
	Charts *ChartRepo
	// Tools are programs given to every shell, first on its PATH: name →
	// a binary on this host that behaves as that program when run by that
	// name (kubelab itself answers as kubectl). Each is bind-mounted
	// read-only. Without "kubectl" here the host's kubectl on PATH serves,
	// if there is one. kubectl's bash completion comes from the kubectl
	// the shells use.
	Tools  map[string]string
	Log    *slog.Logger
	Limits Limits
	// UID and GID run bubblewrap when kubelab runs as root, so that the
	// jail's processes are not root outside and rlimits apply (default
	// 65534, nobody). Ignored when kubelab is not root.
	UID, GID int
}

// ChartRepo is a Helm chart repository served to the jails.
type ChartRepo struct {
	Name    string       // the repository's name in helm
	Index   []byte       // its index.yaml, cached in every shell's helm
	Handler http.Handler // serves index.yaml and the charts
}

// Jail starts jailed shells. It is safe for concurrent use.
type Jail struct {
	opts       Options
	log        *slog.Logger
	completion []byte   // kubectl's bash completion script
	seccomp    []byte   // the filter bwrap installs; nil where there is none
	cgroups    *cgroups // where each jail gets a cgroup; nil where kubelab cannot make them
	asRoot     bool
}

// Inside the jail.
const (
	jailUID      = 1000
	jailHome     = "/home/learner"
	jailUser     = "learner"
	jailRun      = "/run/kubelab"         // the state dir: the relay sockets
	jailToken    = jailRun + "/token"     // the learner's current token
	jailForward  = "/run/kubelab-bin/fwd" // the forwarder binary
	jailTools    = "/opt/kubelab/bin"     // Options.Tools, first on PATH
	jailExtras   = "/etc/kubelab"         // completion script
	forwardPort  = 6443                   // where kubectl connects: the primary cluster's port, further ones follow
	readyMessage = "ready"
	// MaxOtherClusters bounds Spec.Others.
	MaxOtherClusters = 8
	chartsAddr       = "127.0.0.1:8879" // Options.Charts inside the jail
	chartsSocket     = "charts.sock"
)

// socketName is the relay socket of cluster i (0: the primary one) in the
// shell's state dir.
func socketName(i int) string {
	if i == 0 {
		return "api.sock"
	}
	return fmt.Sprintf("api-%d.sock", i)
}

// forwardAddr is where kubectl inside the jail reaches cluster i.
func forwardAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", forwardPort+i) }

// New checks that bubblewrap works here and returns a Jail. Its error says
// what to install or change when it does not.
func New(opts Options) (*Jail, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Limits.defaults()
	if opts.Bwrap == "" {
		opts.Bwrap = "bwrap"
	}
	bwrap, err := exec.LookPath(opts.Bwrap)
	if err != nil {
		return nil, fmt.Errorf("find bubblewrap (%s): %w; install it (Debian/Ubuntu: apt-get install bubblewrap) or use --shell=pod", opts.Bwrap, err)
	}
	opts.Bwrap = bwrap
	if len(opts.Forwarder) == 0 {
		return nil, errors.New("jail: Options.Forwarder is required")
	}
	fwd, err := filepath.Abs(opts.Forwarder[0])
	if err != nil {
		return nil, fmt.Errorf("forwarder path: %w", err)
	}
	if _, err := os.Stat(fwd); err != nil {
		return nil, fmt.Errorf("forwarder binary: %w", err)
	}
	opts.Forwarder = append([]string{fwd}, opts.Forwarder[1:]...)
	if opts.UID == 0 {
		opts.UID = 65534
	}
	if opts.GID == 0 {
		opts.GID = 65534
	}
	j := &Jail{opts: opts, log: opts.Log, asRoot: os.Geteuid() == 0}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(os.TempDir(), "kubelab-jail-"+strconv.Itoa(os.Getuid()))
	}
	if len(opts.StateDir) > 70 {
		return nil, fmt.Errorf("jail state dir %q is too long for unix socket paths (at most 70 bytes)", opts.StateDir)
	}
	if err := os.MkdirAll(opts.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("create jail state dir: %w", err)
	}
	// Others must be able to pass through to their own shell's socket
	// (the jail runs as an unprivileged uid when we are root), never list it.
	if err := os.Chmod(opts.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("chmod jail state dir: %w", err)
	}
	if opts.Forwarder[0], err = j.share(fwd, opts.StateDir); err != nil {
		return nil, err
	}
	if opts.Charts != nil && (!toolName.MatchString(opts.Charts.Name) || opts.Charts.Handler == nil) {
		return nil, fmt.Errorf("jail: chart repository %q: want a lowercase name and a handler", opts.Charts.Name)
	}
	tools := map[string]string{}
	for name, path := range opts.Tools {
		if !toolName.MatchString(name) {
			return nil, fmt.Errorf("jail: tool name %q: want lowercase letters, digits and hyphens", name)
		}
		if path, err = filepath.Abs(path); err != nil {
			return nil, fmt.Errorf("tool %s: %w", name, err)
		}
		if tools[name], err = j.share(path, opts.StateDir); err != nil {
			return nil, err
		}
	}
	opts.Tools = tools
	j.opts = opts
	var kubectl *exec.Cmd
	if path, ok := tools["kubectl"]; ok {
		// Run by the name kubectl, as the shells run it.
		kubectl = &exec.Cmd{Path: path, Args: []string{"kubectl", "completion", "bash"}}
	} else if path, err := exec.LookPath("kubectl"); err == nil {
		kubectl = exec.Command(path, "completion", "bash")
	}
	if kubectl != nil { // else no kubectl here: no completion
		out, err := completion(kubectl, opts.StateDir)
		if err != nil {
			j.log.Warn("generate kubectl completion", "err", err)
		}
		j.completion = out
	}
	if j.seccomp, err = seccompFilter(); err != nil {
		j.log.Warn("JAILS RUN WITHOUT A SECCOMP FILTER: learners may use io_uring, keyrings, eBPF, ptrace and new namespaces", "err", err)
	}
	if j.cgroups, err = findCgroups(); err != nil {
		j.log.Warn("JAILS RUN WITHOUT A CGROUP: one learner can take this machine's memory and CPU from the others; "+
			"run kubelab as root, or delegate the memory, pids and cpu controllers to it (cgroup v2)", "err", err)
	}
	if err := j.probe(); err != nil {
		return nil, err
	}
	return j, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// probe starts a trivial jail, so that a machine where user namespaces are
// disabled fails at start with a clear message, not at the first learner.
func (j *Jail) probe() error {
	args := append(j.baseArgs(), sealRoot...)
	args = append(args, "--", "/bin/sh", "-c", "echo ok")
	cmd := exec.Command(j.opts.Bwrap, args...)
	cmd.SysProcAttr = j.sysProcAttr()
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		return fmt.Errorf("bubblewrap cannot create a sandbox here (%v: %s); "+
			"unprivileged user namespaces must be enabled (sysctl kernel.unprivileged_userns_clone=1, "+
			"user.max_user_namespaces > 0; in a container: --security-opt seccomp=unconfined or use --shell=pod)",
			err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (j *Jail) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if j.asRoot {
		// Outside the jail its processes are this unprivileged user:
		// mapped to root they would escape RLIMIT_NPROC.
		attr.Credential = &syscall.Credential{Uid: uint32(j.opts.UID), Gid: uint32(j.opts.GID)}
	}
	return attr
}

// Spec is one learner's shell.
type Spec struct {
	// ID names the shell in logs and in the state dir (e.g. the session id).
	ID string
	// Server is the learner's API server URL (https://host:port).
	Server string
	// CAData is the API server's CA bundle (PEM); empty means the system roots.
	CAData []byte
	// Token is the learner's bearer token; or CertData and KeyData, a client
	// certificate (PEM).
	Token             string
	CertData, KeyData []byte
	// Namespace is the learner's primary namespace, the context's default.
	Namespace string
	// Namespaces are extra namespaces by logical name; each becomes
	// $NS_<LOGICAL> (upper case, non-alphanumerics as _).
	Namespaces map[string]string
	// Context names the kubeconfig context (default "kubelab").
	Context string
	// Env is extra environment for the shell.
	Env map[string]string
	// Others are further clusters of the learner's, each a context of the
	// kubeconfig (at most MaxOtherClusters).
	Others []OtherCluster
}

// OtherCluster is one more API server the shell reaches, as a context of
// its own.
type OtherCluster struct {
	Context string // the kubeconfig context's name
	Server  string // https://host:port
	CAData  []byte // PEM; empty means the system roots
	// Token, or CertData and KeyData: the learner's credentials there.
	Token             string
	CertData, KeyData []byte
}

// upstream is host:port of an API server URL, and its host.
func upstream(server string) (addr, host string, err error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("api server url %q: want https://host[:port]", server)
	}
	if u.Scheme != "https" {
		return "", "", fmt.Errorf("api server url %q: only https is relayed", server)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return u.Hostname() + ":" + port, u.Hostname(), nil
}

// Shell is an interactive bash on a PTY inside the jail. It satisfies
// server/terminal's Process.
type Shell struct {
	cmd   *exec.Cmd
	pty   *os.File
	dir   string
	log   *slog.Logger
	pid   int    // the jail's first process
	owner *owner // who files written into the jail from outside belong to; nil: kubelab's user

	closeOnce sync.Once
	waited    chan struct{}
	waitErr   error
}

// Shell starts bash -l in a new jail for spec. The shell lives until it
// exits or Close; ctx ending also kills it.
func (j *Jail) Shell(ctx context.Context, spec Spec) (*Shell, error) {
	p, err := j.prepare(ctx, spec, "")
	if err != nil {
		return nil, err
	}
	f, err := pty.StartWithSize(p.cmd, &pty.Winsize{Cols: 80, Rows: 24})
	p.closeFiles()
	if err != nil {
		p.cleanup()
		return nil, fmt.Errorf("start jailed shell %s: %w", spec.ID, err)
	}
	if err := p.release(ctx); err != nil {
		_ = p.cmd.Wait()
		f.Close()
		p.cleanup()
		return nil, fmt.Errorf("start jailed shell %s: %w", spec.ID, err)
	}
	s := &Shell{cmd: p.cmd, pty: f, dir: p.dir, log: p.log, pid: p.pid, waited: make(chan struct{})}
	if j.asRoot {
		s.owner = &owner{uid: j.opts.UID, gid: j.opts.GID}
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		p.cleanup()
		close(s.waited)
	}()
	context.AfterFunc(ctx, func() { _ = s.Close() })
	p.log.Info("jailed shell started", "pid", s.cmd.Process.Pid)
	return s, nil
}

// SetToken replaces the learner's token for every later kubectl in the
// shell: tokens expire long before a session may, so the caller renews them.
// The file is read-only inside the jail; kubectl reads it each run.
func (s *Shell) SetToken(token string) error {
	if token == "" {
		return errors.New("set token: empty token")
	}
	return writeToken(s.dir, token)
}

// writeToken replaces dir/token atomically: a kubectl starting meanwhile
// reads the old token or the new one, never half of one.
func writeToken(dir, token string) error {
	tmp, err := os.CreateTemp(dir, ".token-")
	if err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(token); err != nil {
		tmp.Close()
		return fmt.Errorf("write token: %w", err)
	}
	// The state dir is 0700 and owned by the jail's user; the file need
	// not be secret from anyone who can enter it.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "token")); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	return nil
}

// Read returns the shell's output.
func (s *Shell) Read(b []byte) (int, error) { return s.pty.Read(b) }

// Write types into the shell.
func (s *Shell) Write(b []byte) (int, error) { return s.pty.Write(b) }

// Resize sets the PTY's window size.
func (s *Shell) Resize(cols, rows uint16) error {
	return pty.Setsize(s.pty, &pty.Winsize{Cols: cols, Rows: rows})
}

// Pid is the process id of bubblewrap outside the jail.
func (s *Shell) Pid() int { return s.cmd.Process.Pid }

// Close kills every process in the jail and releases the PTY.
func (s *Shell) Close() error {
	s.closeOnce.Do(func() {
		// bwrap's init inside dies with it (--die-with-parent), and with
		// the pid namespace's init every process in the jail.
		_ = s.cmd.Process.Kill()
		select {
		case <-s.waited:
		default:
		}
		_ = s.pty.Close()
	})
	return nil
}

// Wait blocks until the jail has exited.
func (s *Shell) Wait() error {
	<-s.waited
	return s.waitErr
}

// RunError is a script that ran and failed; Output holds what it printed.
type RunError struct {
	Err    error
	Output []byte
}

func (e *RunError) Error() string { return fmt.Sprintf("script failed: %v", e.Err) }
func (e *RunError) Unwrap() error { return e.Err }

const maxRunOutput = 1 << 20

// Run runs script with bash in a new jail for spec, exactly as the learner's
// shell would (their .bashrc, aliases on, stopping at the first failing
// command), and returns its combined output (at most 1 MiB). A script that
// fails returns *RunError.
func (j *Jail) Run(ctx context.Context, spec Spec, script string) ([]byte, error) {
	p, err := j.prepare(ctx, spec, script)
	if err != nil {
		return nil, err
	}
	defer p.cleanup()
	out := &limitedBuffer{max: maxRunOutput}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	err = p.cmd.Start()
	p.closeFiles()
	if err != nil {
		return nil, fmt.Errorf("start jailed script %s: %w", spec.ID, err)
	}
	if err := p.release(ctx); err != nil {
		_ = p.cmd.Wait()
		return nil, fmt.Errorf("start jailed script %s: %w", spec.ID, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = p.cmd.Process.Kill() })
	err = p.cmd.Wait()
	stop()
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("run jailed script %s: %w", spec.ID, ctx.Err())
	}
	if err != nil {
		return out.Bytes(), &RunError{Err: err, Output: out.Bytes()}
	}
	return out.Bytes(), nil
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// prepared is a jail command ready to start, with what it needs outside.
type prepared struct {
	cmd    *exec.Cmd
	relays []*relay // one per cluster, the primary one first
	dir    string
	files  []*os.File
	log    *slog.Logger
	cgroup *jailCgroup // nil without cgroups
	gate   *os.File    // held until the started command is in its cgroup

	// Where kubelab opens the jail's ports itself (as root): the API
	// servers' addresses, the chart repository, bwrap's --info-fd and the
	// gate the jail waits on until its ports are open.
	upstreams       []string
	charts          http.Handler
	info, portsGate *os.File
	pid             int // the jail's first process, once release has read it from info

	services []*http.Server // served for the jail (the chart repository)
	wg       sync.WaitGroup // their Serve calls
}

// serveHTTP serves h on ln for the jail until cleanup.
func (p *prepared) serveHTTP(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	p.services = append(p.services, srv)
	p.wg.Go(func() { _ = srv.Serve(ln) })
}

// release moves the started command into its cgroup, lets it go on and
// opens its API ports; where that fails it kills the command.
func (p *prepared) release(ctx context.Context) error {
	p.closeFiles()
	err := p.enterCgroup()
	if err == nil {
		p.pid, err = childPID(p.info, 10*time.Second)
	}
	if err == nil && p.portsGate != nil {
		err = p.openPorts(ctx)
	}
	if err != nil {
		_ = p.cmd.Process.Kill()
	}
	p.closePortsGate()
	return err
}

func (p *prepared) enterCgroup() error {
	if p.gate == nil {
		return nil
	}
	defer func() {
		p.gate.Close()
		p.gate = nil
	}()
	if err := p.cgroup.add(p.cmd.Process.Pid); err != nil {
		return err
	}
	if _, err := p.gate.WriteString("go\n"); err != nil {
		return fmt.Errorf("start jail: %w", err)
	}
	return nil
}

// openPorts listens on the jail's API ports inside its network namespace,
// relays them to the API servers, and tells the jail to go on.
func (p *prepared) openPorts(ctx context.Context) error {
	addrs := make([]string, len(p.upstreams))
	for i := range addrs {
		addrs[i] = forwardAddr(i)
	}
	if p.charts != nil {
		addrs = append(addrs, chartsAddr)
	}
	lns, err := listenIn(p.pid, addrs)
	if err != nil {
		return err
	}
	for i, ln := range lns {
		if i < len(p.upstreams) {
			p.relays = append(p.relays, serveRelay(ctx, ln, p.upstreams[i], p.log))
		} else {
			p.serveHTTP(ln, p.charts)
		}
	}
	if _, err := p.portsGate.WriteString(readyMessage + "\n"); err != nil {
		return fmt.Errorf("start jail: %w", err)
	}
	return nil
}

func (p *prepared) closePortsGate() {
	for _, f := range []*os.File{p.info, p.portsGate} {
		if f != nil {
			f.Close()
		}
	}
	p.info, p.portsGate = nil, nil
}

func (p *prepared) closeFiles() {
	for _, f := range p.files {
		_ = f.Close()
	}
	p.files = nil
}

func (p *prepared) cleanup() {
	p.closeFiles()
	if p.gate != nil {
		p.gate.Close()
	}
	p.closePortsGate()
	for _, srv := range p.services {
		_ = srv.Close()
	}
	p.wg.Wait()
	p.cgroup.remove()
	for _, r := range p.relays {
		r.close()
	}
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}

// prepare builds the bwrap command for spec: an interactive login shell
// when script is empty, else bash running script.
func (j *Jail) prepare(ctx context.Context, spec Spec, script string) (_ *prepared, err error) {
	servers := []string{spec.Server}
	for _, o := range spec.Others {
		servers = append(servers, o.Server)
	}
	if len(spec.Others) > MaxOtherClusters {
		return nil, fmt.Errorf("jail: %d further clusters, at most %d", len(spec.Others), MaxOtherClusters)
	}
	contexts := map[string]bool{cmpOr(spec.Context, "kubelab"): true}
	for _, o := range spec.Others {
		if o.Context == "" || contexts[o.Context] {
			return nil, fmt.Errorf("jail: further cluster context %q: empty or named twice", o.Context)
		}
		contexts[o.Context] = true
	}
	addrs, hosts := make([]string, len(servers)), make([]string, len(servers))
	for i, s := range servers {
		if addrs[i], hosts[i], err = upstream(s); err != nil {
			return nil, err
		}
	}
	log := j.log.With("shell", spec.ID)
	dir, err := os.MkdirTemp(j.opts.StateDir, safeName(spec.ID)+"-")
	if err != nil {
		return nil, fmt.Errorf("create shell state dir: %w", err)
	}
	p := &prepared{dir: dir, log: log}
	defer func() {
		if err != nil {
			p.cleanup()
		}
	}()
	if j.asRoot {
		if err := os.Chown(dir, j.opts.UID, j.opts.GID); err != nil {
			return nil, fmt.Errorf("chown shell state dir: %w", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("chmod shell state dir: %w", err)
	}
	var fwdRoutes []Route // what the forwarder serves where kubelab cannot open the jail's ports itself
	if j.asRoot {         // kubelab listens in the jail itself once it exists (netns.go)
		p.upstreams = addrs
		if j.opts.Charts != nil {
			p.charts = j.opts.Charts.Handler
		}
	} else {
		for i, addr := range addrs {
			r, err := listenRelay(ctx, filepath.Join(dir, socketName(i)), addr, log)
			if err != nil {
				return nil, err
			}
			p.relays = append(p.relays, r)
			fwdRoutes = append(fwdRoutes, Route{Listen: forwardAddr(i), Socket: jailRun + "/" + socketName(i)})
		}
		if j.opts.Charts != nil {
			ln, err := net.Listen("unix", filepath.Join(dir, chartsSocket))
			if err != nil {
				return nil, fmt.Errorf("listen on the chart repository socket: %w", err)
			}
			p.serveHTTP(ln, j.opts.Charts.Handler)
			fwdRoutes = append(fwdRoutes, Route{Listen: chartsAddr, Socket: jailRun + "/" + chartsSocket})
		}
	}
	if spec.Token != "" {
		if err := writeToken(dir, spec.Token); err != nil {
			return nil, err
		}
	}

	args := j.baseArgs()
	addFile := func(content []byte, perms, dest string, ro bool) error {
		f, err := dataFile(dir, content)
		if err != nil {
			return err
		}
		p.files = append(p.files, f)
		fd := strconv.Itoa(2 + len(p.files)) // ExtraFiles start at fd 3
		op := "--file"
		if ro {
			op = "--ro-bind-data"
		}
		args = append(args, "--perms", perms, op, fd, dest)
		return nil
	}
	size := strconv.FormatInt(j.opts.Limits.TmpSize, 10)
	args = append(args,
		"--ro-bind", dir, jailRun,
		"--ro-bind", j.opts.Forwarder[0], jailForward,
	)
	for _, name := range slices.Sorted(maps.Keys(j.opts.Tools)) {
		args = append(args, "--ro-bind", j.opts.Tools[name], jailTools+"/"+name)
	}
	args = append(args,
		"--perms", "1777", "--size", size, "--tmpfs", "/tmp",
		"--size", size, "--tmpfs", jailHome,
		"--dir", jailHome+"/.kube",
		"--chdir", jailHome,
	)
	if err := addFile(kubeconfig(spec, hosts), "0600", jailHome+"/.kube/config", false); err != nil {
		return nil, err
	}
	if c := j.opts.Charts; c != nil {
		// The repository is known, and its index is cached: helm search
		// repo answers at once, as after `helm repo update`.
		args = append(args, "--dir", jailHome+"/.config/helm", "--dir", jailHome+"/.cache/helm/repository")
		if err := addFile(helmRepositories(c.Name), "0644", jailHome+"/.config/helm/repositories.yaml", false); err != nil {
			return nil, err
		}
		if err := addFile(c.Index, "0644", jailHome+"/.cache/helm/repository/"+c.Name+"-index.yaml", false); err != nil {
			return nil, err
		}
	}
	if err := addFile([]byte(bashrc), "0644", jailHome+"/.bashrc", false); err != nil {
		return nil, err
	}
	if err := addFile([]byte(profile), "0644", jailHome+"/.profile", false); err != nil {
		return nil, err
	}
	if err := addFile(j.completion, "0644", jailExtras+"/kubectl-completion.bash", true); err != nil {
		return nil, err
	}
	if script != "" {
		if err := addFile([]byte(script), "0644", jailExtras+"/script.sh", true); err != nil {
			return nil, err
		}
	}
	for name, content := range etcFiles() {
		if err := addFile(content, "0644", name, true); err != nil {
			return nil, err
		}
	}
	if j.seccomp != nil {
		f, err := dataFile(dir, j.seccomp)
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, f)
		args = append(args, "--seccomp", strconv.Itoa(2+len(p.files)))
	}
	for k, v := range shellEnv(spec) {
		args = append(args, "--setenv", k, v)
	}
	// bwrap names the jail's first process on its info fd: kubelab enters
	// its network namespace (as root) and its home (the editor) by it.
	infoR, infoW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("jail info pipe: %w", err)
	}
	p.info, p.files = infoR, append(p.files, infoW)
	args = append(args, "--info-fd", strconv.Itoa(2+len(p.files)))
	portsGate := 0 // the jail's fd that says its API ports are open; 0: the forwarder opens them
	if p.upstreams != nil {
		gateR, gateW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("jail ports gate: %w", err)
		}
		p.portsGate, p.files = gateW, append(p.files, gateR)
		portsGate = 2 + len(p.files)
	}
	args = append(args, sealRoot...)
	args = append(args, "--", "/bin/bash", "--noprofile", "--norc", "-c", j.initScript(script != "", fwdRoutes, portsGate))

	cmd := exec.Command(j.opts.Bwrap, args...)
	if j.cgroups != nil {
		// bwrap forks at once, so it must start inside the cgroup: bash
		// waits on a pipe until release has moved it there, then execs bwrap.
		if p.cgroup, err = j.cgroups.create(filepath.Base(dir), j.opts.Limits); err != nil {
			return nil, err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("jail start gate: %w", err)
		}
		p.files, p.gate = append(p.files, r), w
		fd := strconv.Itoa(2 + len(p.files))
		cmd = exec.Command("/bin/bash", append([]string{"-c",
			"read -r _ <&" + fd + " || exit 111; exec " + fd + "<&-; exec \"$@\"", "kubelab-jail", j.opts.Bwrap}, args...)...)
	}
	cmd.Env = []string{}
	cmd.ExtraFiles = p.files
	cmd.SysProcAttr = j.sysProcAttr()
	if script != "" {
		cmd.SysProcAttr.Setsid = true
	}
	p.cmd = cmd
	return p, nil
}

// sealRoot ends the mount setup. The root is a tmpfs that bwrap sizes by
// nothing; once /etc and the mount points are in place it becomes
// read-only, leaving the sized tmpfs mounts as the only writable places.
var sealRoot = []string{"--remount-ro", "/"}

// baseArgs are the namespaces and the read-only system. The caller ends
// its own mounts with sealRoot.
func (j *Jail) baseArgs() []string {
	size := strconv.FormatInt(j.opts.Limits.TmpSize, 10)
	args := []string{
		"--unshare-all",    // pid, net (loopback only), ipc, uts, cgroup
		"--unshare-user",   // --unshare-all only tries it; we insist
		"--disable-userns", // no nested namespaces: no root-in-a-namespace tricks
		"--die-with-parent",
		"--clearenv",
		"--uid", strconv.Itoa(jailUID), "--gid", strconv.Itoa(jailUID),
		"--hostname", "kubelab",
		"--ro-bind", "/usr", "/usr",
		"--proc", "/proc",
		"--dev", "/dev",
		"--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
		"--remount-ro", "/dev", // bwrap's /dev is an unsized tmpfs too
		"--dir", "/etc",
		"--perms", "1777", "--size", size, "--tmpfs", "/var/tmp",
	}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	for _, f := range etcAllowed {
		args = append(args, "--ro-bind-try", f, f)
	}
	return args
}

// initScript runs inside the jail: set the rlimits for everything that
// follows, wait until kubelab has opened the jail's ports (fd portsGate)
// or, without one, start the forwarder for routes and wait until it
// listens; then the shell.
func (j *Jail) initScript(script bool, routes []Route, portsGate int) string {
	l := j.opts.Limits
	fwd := []string{jailForward}
	for _, a := range j.opts.Forwarder[1:] {
		fwd = append(fwd, shellQuote(a))
	}
	for _, r := range routes {
		fwd = append(fwd, r.Listen, r.Socket)
	}
	var b strings.Builder
	// bash counts ulimit -f and -v in KiB.
	fmt.Fprintf(&b, "ulimit -HS -u %d -n %d -f %d -v %d -c 0 || exit 111\n",
		l.Processes, l.OpenFiles, l.FileSize>>10, l.Memory>>10)
	if portsGate > 0 {
		fmt.Fprintf(&b, "read -r line <&%d; exec %d<&-\n", portsGate, portsGate)
		fmt.Fprintf(&b, "[ \"$line\" = %s ] || { echo 'kubelab: the API ports did not open' >&2; exit 111; }\n", readyMessage)
	} else {
		fmt.Fprintf(&b, "exec 3< <(exec %s </dev/null 2>/dev/null)\n", strings.Join(fwd, " "))
		b.WriteString("read -r -t 10 line <&3; exec 3<&-\n")
		fmt.Fprintf(&b, "[ \"$line\" = %s ] || { echo 'kubelab: the API forwarder did not start' >&2; }\n", readyMessage)
	}
	if script {
		fmt.Fprintf(&b, "exec bash --norc --noprofile -c 'shopt -s expand_aliases; . ~/.bashrc; set -e; . %s'\n", jailExtras+"/script.sh")
	} else {
		b.WriteString("exec bash -l\n")
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// dataFile writes content to an unlinked file in dir and returns it open
// for reading, for bwrap to copy into the jail.
func dataFile(dir string, content []byte) (*os.File, error) {
	f, err := os.CreateTemp(dir, "data-")
	if err != nil {
		return nil, fmt.Errorf("create jail data file: %w", err)
	}
	_ = os.Remove(f.Name())
	if _, err := f.Write(content); err != nil {
		f.Close()
		return nil, fmt.Errorf("write jail data file: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("rewind jail data file: %w", err)
	}
	return f, nil
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() >= 16 { // a unix socket path must stay under 108 bytes
			break
		}
	}
	if b.Len() == 0 {
		return "shell"
	}
	return b.String()
}

// reachableByOthers reports whether any user may run path: every parent
// directory searchable and the file readable and executable by others.
func reachableByOthers(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o005 != 0o005 {
		return false
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		di, err := os.Stat(dir)
		if err != nil || di.Mode().Perm()&0o001 == 0 {
			return false
		}
		if dir == filepath.Dir(dir) {
			return true
		}
	}
}

// toolName is what Options.Tools may call a program.
var toolName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// share returns a path to the binary src that the jail can open: bwrap
// opens it as the jail's unprivileged uid, which cannot pass a private
// directory (`go run` builds under a 0700 one).
// completion returns the output of cmd (kubectl's completion script),
// kept under dir per binary: starting a kubectl costs a start of kubelab a
// tenth of a second of CPU, the same answer every time for one build.
func completion(cmd *exec.Cmd, dir string) ([]byte, error) {
	fi, err := os.Stat(cmd.Path)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(dir, fmt.Sprintf("completion-%d-%d.bash", fi.Size(), fi.ModTime().UnixNano()))
	if out, err := os.ReadFile(cached); err == nil && len(out) > 0 {
		return out, nil
	}
	out, err := cmd.Output()
	if err != nil {
		return out, err
	}
	tmp := cached + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, out, 0o644); err == nil {
		_ = os.Rename(tmp, cached) // else the next start generates it again
	}
	return out, nil
}

func (j *Jail) share(src, dir string) (string, error) {
	if !j.asRoot || reachableByOthers(src) {
		return src, nil
	}
	return shareBinary(src, dir)
}

// shareBinary makes the binary reachable under dir (a hard link, or a
// copy across file systems) and returns its path there.
func shareBinary(src, dir string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("share %s with the jail: %w", src, err)
	}
	dst := filepath.Join(dir, fmt.Sprintf("bin-%d-%d", fi.Size(), fi.ModTime().UnixNano()))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	tmp := dst + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.Link(src, tmp); err != nil {
		if err := copyExecutable(src, tmp); err != nil {
			return "", fmt.Errorf("share %s with the jail: %w", src, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("share %s with the jail: %w", src, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("share %s with the jail: %w", src, err)
	}
	return dst, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
