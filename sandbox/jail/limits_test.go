package jail_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/jail/jailtest"
)

// TestDiskIsBounded fills every directory a learner can reach with files
// below the file size rlimit (64 MiB): the disk, not the rlimit, must stop
// them, well before 200 MiB.
func TestDiskIsBounded(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	tests := []struct {
		dir  string
		want []string // what dd may say
	}{
		{"/", []string{"Read-only file system", "Permission denied"}},
		{"/etc", []string{"Read-only file system", "Permission denied"}},
		{"/var/tmp", []string{"No space left on device"}},
		{"/run", []string{"Read-only file system", "No space left on device"}},
		{"/dev", []string{"Read-only file system", "Permission denied"}},
		{"/dev/shm", []string{"No space left on device"}},
		{"/tmp", []string{"No space left on device"}},
		{"/home/learner", []string{"No space left on device"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			// 7 files of 32 MiB: 224 MiB in all.
			script := fmt.Sprintf(`for i in 1 2 3 4 5 6 7; do dd if=/dev/zero of=%s/fill-$i bs=1M count=32 status=none; done`,
				strings.TrimSuffix(tt.dir, "/"))
			out, err := sharedJail(t).Run(t.Context(), api.spec(t), script)
			var rerr *jail.RunError
			if !errors.As(err, &rerr) {
				t.Fatalf("wrote 224 MiB into %s (err %v):\n%s", tt.dir, err, out)
			}
			for _, w := range tt.want {
				if strings.Contains(string(out), w) {
					return
				}
			}
			t.Errorf("writing into %s failed, but not for want of space (want one of %q):\n%s", tt.dir, tt.want, out)
		})
	}
}

// TestRelayRefusalsDoNotFloodTheLog holds every relay connection a shell
// may have, then connects and closes in a loop: each refusal used to be a
// log line. Each loop connection waits for the relay to close it, so that
// every one of them is refused before the shell ends.
func TestRelayRefusalsDoNotFloodTheLog(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	var logs lockedBuffer
	opts := jailtest.Options(t)
	opts.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	j := jailtest.New(t, opts)
	const attempts = 2000
	start := time.Now()
	out, err := j.Run(t.Context(), api.spec(t), fmt.Sprintf(`
for i in $(seq 64); do exec {held}<>/dev/tcp/127.0.0.1/6443; done
sleep 0.5 # let the relay give the held connections their slots
for i in $(seq %d); do exec {c}<>/dev/tcp/127.0.0.1/6443; read -r -t 1 -u $c _ || true; exec {c}<&-; done
`, attempts))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}

	lines, refusals := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	for sc.Scan() {
		var rec struct {
			Msg        string
			Max        int
			Suppressed int
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec.Msg != "api relay: too many connections" {
			continue
		}
		lines++
		refusals += rec.Suppressed
		if rec.Max != 0 {
			refusals++ // a refusal logged as it happened
		}
	}
	// The first refusal, one per interval, and the count at the end.
	if most := 2 + int(elapsed/jail.RelayLogEvery); lines > most {
		t.Errorf("%d log lines about refused connections in %v, want at most %d", lines, elapsed, most)
	}
	// Connections still being set up when the loop started may have taken
	// a slot for a moment.
	if refusals < attempts-maxHeldSlack {
		t.Errorf("the log accounts for %d refused connections, want about %d:\n%s", refusals, attempts, logs.Bytes())
	}
}

// maxHeldSlack is how many loop connections may get a slot rather than a refusal.
const maxHeldSlack = 100

// lockedBuffer is a log sink that jails may write to from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// TestSeccompRefusesKernelSurface makes, from inside a jail, system calls
// a learner never needs. Without the filter io_uring and keyrings work and
// unshare and ptrace succeed.
func TestSeccompRefusesKernelSurface(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	calls := []struct {
		name string
		nr   uintptr
		args string
	}{
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, "1, 0"},
		{"keyctl", unix.SYS_KEYCTL, "0, -3"}, // KEYCTL_GET_KEYRING_ID of the session keyring
		{"add_key", unix.SYS_ADD_KEY, "0, 0, 0, 0, -3"},
		{"bpf", unix.SYS_BPF, "0, 0, 0"},
		{"unshare", unix.SYS_UNSHARE, "0"},
		{"setns", unix.SYS_SETNS, "0, 0"},
		{"ptrace", unix.SYS_PTRACE, "0, 0, 0, 0"}, // PTRACE_TRACEME
		{"mount", unix.SYS_MOUNT, "0, 0, 0, 0, 0"},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, "0, 0, -1, -1, 0"},
		{"userfaultfd", unix.SYS_USERFAULTFD, "0"},
	}
	var script strings.Builder
	for _, c := range calls {
		// perl's syscall returns -1 and sets errno ($!) on failure.
		fmt.Fprintf(&script, "perl -e '$r = syscall(%d, %s); print \"%s \", $r == -1 ? $!+0 : \"ok\", \"\\n\"'\n", c.nr, c.args, c.name)
	}
	// What a learner does still works.
	script.WriteString("ls / >/dev/null && echo ls ok\n")
	out, err := sharedJail(t).Run(t.Context(), api.spec(t), script.String())
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, result, ok := strings.Cut(line, " "); ok {
			got[name] = result
		}
	}
	for _, c := range calls {
		if want := strconv.Itoa(int(unix.EPERM)); got[c.name] != want {
			t.Errorf("%s from a jail: got %q, want errno %s (EPERM)", c.name, got[c.name], want)
		}
	}
	if got["ls"] != "ok" {
		t.Errorf("ls in a jail: %q\n%s", got["ls"], out)
	}
}

// TestMemoryIsBoundedPerJail holds three 250 MiB processes in one jail at
// once; each is far below the per-process rlimit, so only the jail's
// cgroup (512 MiB in all) can stop them.
func TestMemoryIsBoundedPerJail(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	out, err := sharedJail(t).Run(t.Context(), api.spec(t), `
pids=()
for i in 1 2 3; do perl -e '$x = "x" x (250 << 20); sleep 3' & pids+=($!); done
alive=0
for p in "${pids[@]}"; do wait "$p" && alive=$((alive+1)) || true; done
echo "alive=$alive"
`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "alive=") || strings.Contains(string(out), "alive=3") {
		t.Errorf("three 250 MiB processes in one jail: want the cgroup to stop one, got:\n%s", out)
	}
}

// TestJailHasItsOwnCgroup looks from outside at a running jail: its
// processes are in a cgroup of their own with the CPU weight and pids cap,
// and the cgroup is gone once the jail ends.
func TestJailHasItsOwnCgroup(t *testing.T) {
	t.Parallel()
	api := newAPIServer(t)
	j := sharedJail(t)
	done := make(chan error, 1)
	spec := api.spec(t)
	spec.ID = "cgroup-probe"
	go func() {
		_, err := j.Run(t.Context(), spec, "sleep 3")
		done <- err
	}()
	var dir string
	err := wait(10*time.Second, func() bool {
		dirs, _ := filepath.Glob(filepath.Join(jail.CgroupParent(j, "pids"), "cgroup-probe-*"))
		if len(dirs) == 1 {
			procs, _ := os.ReadFile(filepath.Join(dirs[0], "cgroup.procs"))
			if len(strings.Fields(string(procs))) > 0 {
				dir = dirs[0]
			}
		}
		return dir != ""
	})
	if err != nil {
		t.Fatalf("no cgroup with processes for the jail under %s", jail.CgroupParent(j, "pids"))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pids.max")); strings.TrimSpace(string(b)) != "256" {
		t.Errorf("pids.max = %q, want 256", b)
	}
	cpu := filepath.Join(jail.CgroupParent(j, "cpu"), filepath.Base(dir), "cpu.shares")
	if b, _ := os.ReadFile(cpu); strings.TrimSpace(string(b)) != "512" {
		t.Errorf("%s = %q, want 512", cpu, b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s outlived its jail (%v)", dir, err)
	}
}

// wait polls cond until it holds or d passes.
func wait(d time.Duration, cond func() bool) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return errors.New("timed out")
}
