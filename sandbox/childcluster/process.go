package childcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// child is one child process.
type child struct {
	cmd     *exec.Cmd     // only run's goroutine uses it
	pid     atomic.Int64  // 0 until started
	stopped atomic.Bool   // kill was called: a child starting now is killed at once
	ready   chan struct{} // closed once the cluster is usable
	exited  chan struct{} // closed once the process has been waited for
	err     error         // why the start failed; set, with failed, before ready closes
	failed  bool
}

// ensure waits until the child of cluster id is usable, starting it if none
// runs (a first start, or again after kubelab restarted).
func (p *Provisioner) ensure(ctx context.Context, id, dir string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("cluster %s: kubelab is shutting down", id)
	}
	c := p.children[id]
	if c != nil {
		select {
		case <-c.exited:
			c = nil // gone: start it again
		default:
		}
	}
	if c == nil {
		c = &child{ready: make(chan struct{}), exited: make(chan struct{})}
		p.children[id] = c
		p.wg.Go(func() { p.run(id, dir, c) })
	}
	p.mu.Unlock()
	select {
	case <-c.ready:
		if c.failed {
			return c.err
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start cluster %s: %w", id, ctx.Err())
	}
}

// run starts the child, marks it ready once its ready file appears, and
// waits for it to exit. It owns the process.
func (p *Provisioner) run(id, dir string, c *child) {
	defer close(c.exited)
	fail := func(err error) {
		c.err, c.failed = err, true
		close(c.ready)
	}
	p.sem <- struct{}{}
	released := false
	release := func() {
		if !released {
			released = true
			<-p.sem
		}
	}
	defer release()
	if err := p.start(id, dir, c); err != nil {
		fail(err)
		return
	}
	waited := make(chan error, 1)
	go func() { waited <- c.cmd.Wait() }()
	deadline := time.NewTimer(p.o.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-waited:
			fail(fmt.Errorf("start cluster %s: the cluster process exited (%v): %s", id, err, logTail(dir)))
			return
		case <-deadline.C:
			c.kill()
			<-waited
			fail(fmt.Errorf("start cluster %s: not ready within %s: %s", id, p.o.StartTimeout, logTail(dir)))
			return
		case <-tick.C:
			if _, err := os.Stat(filepath.Join(dir, readyFile)); err != nil {
				continue
			}
		}
		break
	}
	release()
	close(c.ready)
	err := <-waited
	p.mu.Lock()
	closing := p.closed || p.children[id] != c
	p.mu.Unlock()
	if !closing {
		p.o.Log.Warn("simulated cluster process exited", "sandbox_id", id, "err", err, "log", logTail(dir))
	}
}

func (p *Provisioner) start(id, dir string, c *child) error {
	_ = os.Remove(filepath.Join(dir, readyFile))
	nodes, err := readLayout(dir)
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	cfg, err := json.Marshal(childConfig{DataDir: dir, Nodes: nodes, Parent: os.Getpid()})
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	defer logf.Close() // the child holds its own copy
	if len(p.o.Command) == 0 {
		return fmt.Errorf("start cluster %s: no command to run a cluster", id)
	}
	cmd := exec.Command(p.o.Command[0], p.o.Command[1:]...)
	cmd.Env = slices.Concat(os.Environ(), childTuning, p.o.Env, []string{EnvChild + "=" + string(cfg)})
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// Its own process group (a signal to kubelab's terminal does not reach
	// it), and killed by the kernel when kubelab dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cluster %s: %w", id, err)
	}
	c.cmd = cmd
	c.pid.Store(int64(cmd.Process.Pid))
	if c.stopped.Load() { // destroyed while starting
		c.kill()
	}
	return nil
}

// kill ends the child and anything it started.
func (c *child) kill() {
	c.stopped.Store(true)
	if pid := c.pid.Load(); pid > 0 {
		_ = syscall.Kill(-int(pid), syscall.SIGKILL)
	}
}

// childTuning trades a little CPU for memory in clusters that mostly idle
// side by side: measured on 4 idle clusters (BenchmarkIdleFootprint), the
// collector at GOGC=25 keeps 165 MiB private memory each at 2.5 % of a core,
// against 209 MiB at the default; a GOMEMLIMIT near the live heap costs
// 11–36 % of a core.
var childTuning = []string{"GOGC=25"}

// logTail is the end of a child's log, for an error message.
func logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil || len(b) == 0 {
		return "no log"
	}
	const max = 600
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
