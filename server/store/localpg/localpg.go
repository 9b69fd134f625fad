// Package localpg owns kubelab's private PostgreSQL: a cluster under the
// data dir, created with initdb on first use and run from the server
// binaries found on the machine, listening only on a unix socket inside its
// own directory. It recovers by itself from crashes (stale postmaster.pid,
// an orphaned postmaster, a half-finished initdb).
//
// Layout of Options.DataDir:
//
//	data/               PGDATA (owned by the user postgres runs as, 0700)
//	data.initdb-tmp/    initdb's work dir, renamed to data/ when complete;
//	                    a leftover one is a half-finished initdb and is deleted
//	.s.PGSQL.5432       the unix socket (no TCP: listen_addresses='')
//	postgres.log        server log
//
// Running as root: PostgreSQL refuses to run as root, so initdb and postgres
// run as the system user "kubelab-pg" (created with useradd --system on first
// use; "nobody" if that fails). DataDir is chowned to that user. That user
// must be able to traverse every parent directory of DataDir; the default
// data dir of root is under /root (mode 0700), so Start adds the search bit
// (o+x, traversal only, no listing) to the parents that lack it, and logs
// each change. Nothing else under those parents becomes readable.
//
// An orphaned postmaster (kubelab killed with -9 on a kernel or path where
// the parent-death signal did not reach it) is stopped, not adopted: the new
// instance then runs with this process's settings and is stopped with it.
package localpg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoPostgres reports that no PostgreSQL server binaries were found. Its
// message names both fixes.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries found (initdb and postgres): " +
	"install PostgreSQL's server package (e.g. apt-get install postgresql), " +
	"or use an existing server with --database-url / KUBELAB_DATABASE_URL")

// RunUser is the system user the cluster runs as when kubelab runs as root.
const RunUser = "kubelab-pg"

const (
	superuser = "kubelab"
	port      = 5432
	database  = "postgres"
)

// Options configure Start.
type Options struct {
	// DataDir holds the cluster, its socket and its log; normally
	// <data-dir>/postgres. Required.
	DataDir string
	// SearchPath lists directories to look for initdb and postgres in.
	// Default: the directories of $PATH, then /usr/lib/postgresql/*/bin,
	// newest version first.
	SearchPath []string
	// Log receives lifecycle messages. Default: discard.
	Log *slog.Logger
	// Fast trades durability against an OS crash for speed (fsync off, no
	// initdb sync, more connections); for tests only. Commits still reach
	// the OS before they return, so killing processes loses nothing.
	Fast bool
}

// Instance is a running private PostgreSQL.
type Instance struct {
	opts    Options
	bin     string
	data    string
	sockDir string
	log     *slog.Logger
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster exits
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// runAs is the identity postgres runs as; nil means this process's.
type runAs struct {
	uid, gid uint32
	name     string
}

// Start brings up the cluster in opts.DataDir, creating it on first use, and
// returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	if opts.DataDir == "" {
		return nil, errors.New("localpg: DataDir is required")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", opts.DataDir, err)
	}
	opts.DataDir = dir
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := findBinaries(opts.SearchPath, filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	in := &Instance{opts: opts, bin: bin, data: filepath.Join(dir, "data"), sockDir: dir, log: log}
	if len(filepath.Join(dir, ".s.PGSQL.5432")) > 100 {
		return nil, fmt.Errorf("data dir %s: path too long for a unix socket (max ~85 characters)", dir)
	}

	var as *runAs
	if os.Geteuid() == 0 {
		if as, err = systemUser(ctx, log); err != nil {
			return nil, err
		}
	}
	if err := prepareDir(dir, as, log); err != nil {
		return nil, err
	}
	if err := in.initdb(ctx, as); err != nil {
		return nil, err
	}
	if err := in.clearStale(ctx); err != nil {
		return nil, err
	}
	// A postmaster killed with -9 leaves backends that still hold its shared
	// memory for a moment; postgres then refuses to start, so retry briefly.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err = in.start(ctx, as)
		if err == nil {
			return in, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "is still in use") {
			return nil, err
		}
		log.Info("old postgres processes still hold shared memory; retrying", "data_dir", dir)
		time.Sleep(200 * time.Millisecond)
		if err := in.clearStale(ctx); err != nil {
			return nil, err
		}
	}
}

// URL is a DSN of the cluster's "postgres" database over its unix socket.
func (in *Instance) URL() string {
	q := url.Values{}
	q.Set("host", in.sockDir)
	q.Set("port", strconv.Itoa(port))
	q.Set("user", superuser)
	q.Set("sslmode", "disable")
	return "postgres:///" + database + "?" + q.Encode()
}

// SocketDir is the directory holding the unix socket.
func (in *Instance) SocketDir() string { return in.sockDir }

// PID is the postmaster's process id.
func (in *Instance) PID() int { return in.cmd.Process.Pid }

// Exited is closed when the postmaster exits, after Stop or not: nothing
// restarts it, so a caller that must keep serving watches it.
func (in *Instance) Exited() <-chan struct{} { return in.exited }

// Stop shuts the cluster down (fast shutdown: sessions are disconnected,
// committed data is kept). When ctx ends first the postmaster is told to
// quit immediately, then killed.
func (in *Instance) Stop(ctx context.Context) error {
	in.stopOnce.Do(func() {
		select {
		case <-in.exited:
			return
		default:
		}
		_ = in.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-in.exited:
			in.log.Info("private postgresql stopped", "data_dir", in.opts.DataDir)
			return
		case <-ctx.Done():
		}
		_ = in.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-in.exited:
		case <-time.After(5 * time.Second):
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
		in.stopErr = fmt.Errorf("stop postgres in %s: %w", in.opts.DataDir, ctx.Err())
	})
	return in.stopErr
}

// findBinaries returns the first directory holding both initdb and
// postgres. With the default search path a /usr/lib/postgresql/N/bin
// matching an existing cluster's PG_VERSION wins.
func findBinaries(search []string, data string) (string, error) {
	if len(search) == 0 {
		search = filepath.SplitList(os.Getenv("PATH"))
		versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		ver := func(p string) float64 {
			f, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(p)), 64)
			return f
		}
		slices.SortFunc(versioned, func(a, b string) int {
			switch va, vb := ver(a), ver(b); {
			case va > vb:
				return -1
			case va < vb:
				return 1
			}
			return 0
		})
		if v, err := os.ReadFile(filepath.Join(data, "PG_VERSION")); err == nil {
			want := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin")
			if i := slices.Index(versioned, want); i > 0 {
				versioned = append([]string{want}, slices.Delete(versioned, i, i+1)...)
			}
		}
		search = append(search, versioned...)
	}
	for _, d := range search {
		if d == "" {
			continue
		}
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// systemUser returns RunUser, creating it if needed, or nobody.
func systemUser(ctx context.Context, log *slog.Logger) (*runAs, error) {
	u, err := user.Lookup(RunUser)
	if err != nil {
		out, aerr := exec.CommandContext(ctx, "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", "--user-group", RunUser).CombinedOutput()
		if aerr == nil {
			log.Info("created system user for the private postgresql", "user", RunUser)
			u, err = user.Lookup(RunUser)
		} else {
			log.Warn("cannot create system user; running postgresql as nobody", "user", RunUser, "err", aerr, "output", strings.TrimSpace(string(out)))
		}
		if err != nil {
			if u, err = user.Lookup("nobody"); err != nil {
				return nil, fmt.Errorf("find a user to run postgresql as (neither %s nor nobody): %w", RunUser, err)
			}
		}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &runAs{uid: uint32(uid), gid: uint32(gid), name: u.Username}, nil
}

// prepareDir creates dir, hands it to as and makes its parents traversable
// for as (see the package comment).
func prepareDir(dir string, as *runAs, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if as == nil {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != as.uid || st.Gid != as.gid {
		err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(as.uid), int(as.gid))
		})
		if err != nil {
			return fmt.Errorf("hand %s to user %s: %w", dir, as.name, err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		m := fi.Mode().Perm()
		ok := m&0o001 != 0 || (st.Uid == as.uid && m&0o100 != 0) || (st.Gid == as.gid && m&0o010 != 0)
		if !ok {
			if err := os.Chmod(p, fi.Mode()&fs.ModePerm|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)|0o001); err != nil {
				return fmt.Errorf("let user %s traverse %s: %w", as.name, p, err)
			}
			log.Info("made a parent of the postgresql data dir traversable (o+x) for its system user", "dir", p, "user", as.name)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// initdb creates the cluster when it does not exist yet. It works in a
// temporary directory renamed into place at the end, so an interrupted
// initdb leaves only that directory, deleted here on the next start.
func (in *Instance) initdb(ctx context.Context, as *runAs) error {
	if _, err := os.Stat(filepath.Join(in.data, "PG_VERSION")); err == nil {
		return nil
	}
	tmp := in.data + ".initdb-tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove half-finished initdb %s: %w", tmp, err)
	}
	if entries, err := os.ReadDir(in.data); err == nil {
		if len(entries) > 0 {
			return fmt.Errorf("%s exists but holds no PostgreSQL cluster (no PG_VERSION); move it away", in.data)
		}
		_ = os.Remove(in.data)
	}
	in.log.Info("creating private postgresql cluster", "data_dir", in.opts.DataDir, "binaries", in.bin)
	args := []string{"-D", tmp, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"}
	if in.opts.Fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(in.bin, "initdb"), args...)
	setup(cmd, as)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", tmp, err, strings.TrimSpace(out.String()))
	}
	if err := os.Rename(tmp, in.data); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	return nil
}

// clearStale deals with postmaster.pid and the socket lock file left by an
// earlier run: an orphaned postmaster on our data dir is stopped; a file
// naming a dead or unrelated process is removed.
func (in *Instance) clearStale(ctx context.Context) error {
	for _, f := range []string{filepath.Join(in.data, "postmaster.pid"), filepath.Join(in.sockDir, ".s.PGSQL.5432.lock")} {
		pid, err := readPID(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && in.isOurPostmaster(pid) {
			in.log.Warn("stopping an orphaned postgresql left by an earlier run", "pid", pid, "data_dir", in.opts.DataDir)
			if err := stopPID(ctx, pid); err != nil {
				return fmt.Errorf("stop orphaned postgres %d: %w", pid, err)
			}
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", f, err)
		}
	}
	return nil
}

func readPID(f string) (int, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no pid", f)
	}
	return pid, nil
}

// isOurPostmaster reports whether pid is a live postgres started on our data
// dir (and not a process that reused the pid).
func (in *Instance) isOurPostmaster(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) > 0 && strings.Contains(filepath.Base(args[0]), "postgres") && slices.Contains(args, in.data)
}

// stopPID asks a postmaster for a fast shutdown and waits for it to go.
func stopPID(ctx context.Context, pid int) error {
	p, _ := os.FindProcess(pid)
	sig := syscall.SIGINT
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := p.Signal(sig); err != nil {
			return nil // gone
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || zombie(st) {
			return nil
		}
		if time.Now().After(deadline) {
			if sig == syscall.SIGKILL {
				return errors.New("does not exit")
			}
			sig, deadline = syscall.SIGKILL, time.Now().Add(5*time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// setup makes cmd run as as, with a neutral environment and working dir.
func setup(cmd *exec.Cmd, as *runAs) {
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // no terminal ^C: kubelab stops postgres itself
	if as != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid, NoSetGroups: true}
	}
}

// start runs the postmaster and waits until it accepts connections.
func (in *Instance) start(ctx context.Context, as *runAs) error {
	logPath := filepath.Join(in.opts.DataDir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open postgres log: %w", err)
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	args := []string{"-D", in.data,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + in.sockDir,
		"-c", "unix_socket_permissions=0700",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "logging_collector=off",
	}
	if in.opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off",
			"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	}
	cmd := exec.Command(filepath.Join(in.bin, "postgres"), args...)
	setup(cmd, as)
	// If kubelab dies, the kernel asks postgres for a fast shutdown. The
	// parent-death signal fires when the forking OS thread exits, so the
	// child is started from a goroutine locked to its thread that lives as
	// long as the child (a goroutine exiting while locked ends its thread).
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	cmd.Stdout, cmd.Stderr = logf, logf
	in.cmd = cmd
	in.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		in.waitErr = cmd.Wait()
		close(in.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	pidFile := filepath.Join(in.data, "postmaster.pid")
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(pidFile, cmd.Process.Pid) {
			in.log.Info("private postgresql ready", "data_dir", in.opts.DataDir, "pid", cmd.Process.Pid)
			return nil
		}
		select {
		case <-in.exited:
			return fmt.Errorf("postgres exited during start (%v):\n%s", in.waitErr, tailLog(logPath, offset))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			<-in.exited
			return fmt.Errorf("start postgres: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// ready reads the status line postgres writes into postmaster.pid (line 8)
// once it accepts connections, as pg_ctl does.
func ready(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

func tailLog(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	_, _ = f.Seek(from, io.SeekStart)
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
