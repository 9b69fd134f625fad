package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ownKubelab is a `kubelab serve` the soak started on loopback, with a
// fresh data dir that it removes again.
type ownKubelab struct {
	cmd     *exec.Cmd
	dir     string // holds data/ and serve.log
	url     string
	admin   string // the admin's password (admin@localhost)
	exited  chan struct{}
	waitErr error
}

// startKubelab starts bin serve, sized for o's learners, and waits until
// it is ready.
func startKubelab(ctx context.Context, bin string, o options) (*ownKubelab, error) {
	dir, err := os.MkdirTemp("", "kubelab-soak-")
	if err != nil {
		return nil, fmt.Errorf("start kubelab: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start kubelab: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start kubelab: %w", err)
	}
	defer logf.Close()
	room := strconv.Itoa(o.Learners + 10)
	k := &ownKubelab{dir: dir, url: "http://" + addr, admin: randomHex(16), exited: make(chan struct{})}
	k.cmd = exec.Command(bin, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn",
		"--pool-size", strconv.Itoa(o.PoolSize), "--max-sandboxes", room, "--max-guest-sandboxes", room,
		// Every learner comes from 127.0.0.1: the limits on new accounts
		// per address and overall would make the class queue for minutes.
		"--entry-burst", room, "--entry-burst-per-ip", room)
	k.cmd.Env = append(os.Environ(), "KUBELAB_ADMIN_PASSWORD="+k.admin)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if err := k.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start kubelab: %w", err)
	}
	go func() { // owned by k: stop waits for exited
		k.waitErr = k.cmd.Wait()
		close(k.exited)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if res, err := http.Get(k.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return k, nil
			}
		}
		select {
		case <-k.exited:
			err := fmt.Errorf("kubelab exited before it was ready (%v):\n%s", k.waitErr, k.logTail())
			k.remove()
			return nil, err
		case <-ctx.Done():
			k.stop(false)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tail := k.logTail()
			k.stop(false)
			return nil, fmt.Errorf("kubelab not ready after 2 minutes:\n%s", tail)
		}
	}
}

func (k *ownKubelab) dataDir() string { return filepath.Join(k.dir, "data") }
func (k *ownKubelab) pid() int        { return k.cmd.Process.Pid }

// stop ends kubelab as an operator would (SIGTERM), then checks that no
// process it started outlived it, and removes the data dir. It returns
// what was left behind. keepLog moves kubelab's log out first, to logPath.
func (k *ownKubelab) stop(keepLog bool) (left []string, logPath string) {
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
		if k.waitErr != nil {
			left = append(left, fmt.Sprintf("kubelab exited with %v; its log ends:\n%s", k.waitErr, k.logTail()))
		}
	case <-time.After(time.Minute):
		left = append(left, "kubelab did not stop within a minute of SIGTERM; killed")
		_ = k.cmd.Process.Kill()
		<-k.exited
	}
	// PostgreSQL stops a moment after kubelab; give what goes a moment.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		procs := processesMentioning(k.dir)
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			left = append(left, fmt.Sprintf("processes of the data dir outlived kubelab: %s", strings.Join(procs, "; ")))
			break
		}
	}
	if keepLog {
		logPath = k.dir + ".log"
		if err := os.Rename(filepath.Join(k.dir, "serve.log"), logPath); err != nil {
			logPath = ""
		}
	}
	k.remove()
	return left, logPath
}

func (k *ownKubelab) remove() {
	if err := os.RemoveAll(k.dir); err != nil {
		fmt.Fprintf(os.Stderr, "soak: remove %s: %v\n", k.dir, err)
	}
}

// logTail is the end of kubelab's log.
func (k *ownKubelab) logTail() string {
	b, _ := os.ReadFile(filepath.Join(k.dir, "serve.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// processesMentioning lists live processes whose command line contains s.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")))
		}
	}
	return out
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// probe reads kubelab's state for the time series.
type probe struct {
	url  string // kubelab's own /metrics: its sandboxes
	pid  int    // 0: RSS, threads and processes unknown
	apis *http.Client
	host string // the simulated cluster's API server, in kubelab's process: its Go metrics are kubelab's
}

// newProbe finds what can be read: the RSS needs the pid, the goroutines
// the admin kubeconfig of the simulated cluster under the data dir (its
// API server runs inside kubelab, and its /metrics has go_goroutines).
func newProbe(url string, pid int, dataDir string) (*probe, error) {
	p := &probe{url: url, pid: pid}
	if dataDir == "" {
		return p, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "cluster", "admin.kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("read the simulated cluster's admin kubeconfig for kubelab's goroutines: %w", err)
	}
	cfg.Timeout = 10 * time.Second
	if p.apis, err = rest.HTTPClientFor(cfg); err != nil {
		return nil, fmt.Errorf("client of the simulated cluster: %w", err)
	}
	p.host = strings.TrimRight(cfg.Host, "/")
	return p, nil
}

func (p *probe) read(ctx context.Context, at time.Duration) sample {
	s := sample{At: at, Goroutines: -1, Sandboxes: -1}
	s.Load = loadAverage()
	s.SoakCPU = processTree(os.Getpid()).Self
	s.MachineBusy, s.MachineAll = machineCPU()
	if p.pid > 0 {
		s.RSS, s.Threads = procStatus(p.pid)
		t := processTree(p.pid)
		s.Procs, s.CPU, s.TreeCPU = t.Procs, t.Self, t.AllCPU
	}
	if p.apis != nil {
		if v, ok := metric(ctx, p.apis, p.host+"/metrics", "go_goroutines"); ok {
			s.Goroutines = int(v)
		}
	}
	if v, ok := metric(ctx, http.DefaultClient, p.url+"/metrics", `kubelab_sandboxes{state="ready"}`); ok {
		s.Sandboxes = int(v)
	}
	return s
}

// metric reads one sample of a Prometheus text exposition.
func metric(ctx context.Context, c *http.Client, url, name string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, false
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	v, err := metricValue(res.Body, name)
	return v, err == nil
}

// metricValue finds "name value" in a Prometheus text exposition.
func metricValue(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(name + " not found")
}

// procStatus reads a process's resident memory and thread count.
func procStatus(pid int) (rss int64, threads int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		case len(f) >= 2 && f[0] == "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	return rss, threads
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// every Linux the soak runs on).
const clockTick = 10 * time.Millisecond

// tree is kubelab's process and what runs below it (jails and their
// commands, PostgreSQL, clusters of one's own) at one moment.
type tree struct {
	Procs  int           // processes below kubelab
	Self   time.Duration // CPU kubelab's own process used so far
	AllCPU time.Duration // … with every process below it, live or finished
}

// processTree reads the processes below pid and their CPU time. A
// finished process's time is in its parent's children's time, so the
// live processes' own and children's times add up to all of it.
func processTree(pid int) tree {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	cpu := map[int]time.Duration{}
	var self time.Duration
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
		var ticks [4]int64 // utime, stime, cutime, cstime: fields 14–17
		for k := range ticks {
			ticks[k], _ = strconv.ParseInt(f[11+k], 10, 64)
		}
		cpu[p] = time.Duration(ticks[0]+ticks[1]+ticks[2]+ticks[3]) * clockTick
		if p == pid {
			self = time.Duration(ticks[0]+ticks[1]) * clockTick
		}
	}
	t := tree{Self: self, AllCPU: cpu[pid]}
	for stack := children[pid]; len(stack) > 0; {
		p := stack[len(stack)-1]
		stack = append(stack[:len(stack)-1], children[p]...)
		t.Procs++
		t.AllCPU += cpu[p]
	}
	return t
}

// machineCPU is the CPU time of all the machine's CPUs so far: busy, and
// in all (the first line of /proc/stat: user nice system idle iowait irq
// softirq steal …, in clock ticks).
func machineCPU() (busy, all time.Duration) {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var total, idle int64
	for i, v := range f[1:9] { // guest time is already in user and nice
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(total-idle) * clockTick, time.Duration(total) * clockTick
}

// loadAverage is the machine's one-minute load: what else competes for it.
func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
