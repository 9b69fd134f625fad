package localpg_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/localpg"
)

// helperEnv makes the test binary act as a kubelab that starts the private
// PostgreSQL and waits to be killed (for the kill -9 test).
const helperEnv = "LOCALPG_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() && os.Getenv(helperEnv) == "" {
		fmt.Println("fast tier (-short): this package starts PostgreSQL servers; not run")
		os.Exit(0)
	}
	if dir := os.Getenv(helperEnv); dir != "" {
		in, err := localpg.Start(context.Background(), localpg.Options{DataDir: dir, Fast: true})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready", in.PID())
		select {}
	}
	os.Exit(m.Run())
}

func start(t *testing.T, dir string) *localpg.Instance {
	t.Helper()
	in, err := localpg.Start(t.Context(), localpg.Options{DataDir: dir, Fast: true})
	if err != nil {
		t.Fatalf("Start(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), time.Minute)
		defer cancel()
		_ = in.Stop(ctx)
	})
	return in
}

func stop(t *testing.T, in *localpg.Instance) {
	t.Helper()
	if err := in.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// put stores a user, so that a later start can look for it.
func put(t *testing.T, in *localpg.Instance, email string) {
	t.Helper()
	st, err := store.Open(t.Context(), in.URL())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := st.CreateUser(t.Context(), store.NewUser{Email: email, PasswordHash: "h"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
}

func has(t *testing.T, in *localpg.Instance, email string) {
	t.Helper()
	st, err := store.Open(t.Context(), in.URL())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if _, _, err := st.UserByEmail(t.Context(), email); err != nil {
		t.Fatalf("user %s after restart: %v", email, err)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return !(i+2 < len(b) && b[i+2] == 'Z')
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; alive(pid); i++ {
		if i > 1000 {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFirstStartAndWarmRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pg")
	in := start(t, dir)

	conn, err := pgx.Connect(t.Context(), in.URL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var listen string
	if err := conn.QueryRow(t.Context(), `SHOW listen_addresses`).Scan(&listen); err != nil {
		t.Fatal(err)
	}
	var runAs string
	if err := conn.QueryRow(t.Context(), `SELECT usename FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&runAs); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	if listen != "" {
		t.Errorf("listen_addresses = %q, want '' (unix socket only)", listen)
	}
	if _, err := os.Stat(filepath.Join(in.SocketDir(), ".s.PGSQL.5432")); err != nil {
		t.Errorf("socket: %v", err)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(filepath.Join(dir, "data"))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
			t.Errorf("data dir owned by root; want the unprivileged %s", localpg.RunUser)
		}
	}
	put(t, in, "kept@example.org")
	stop(t, in)

	in2 := start(t, dir)
	has(t, in2, "kept@example.org")
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		crash func(t *testing.T, dir string, in *localpg.Instance)
	}{
		{"postmaster killed -9", func(t *testing.T, dir string, in *localpg.Instance) {
			pid := in.PID()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitGone(t, pid)
		}},
		{"stale postmaster.pid naming an unrelated live process", func(t *testing.T, dir string, in *localpg.Instance) {
			stop(t, in)
			sleep := exec.Command("sleep", "60")
			if err := sleep.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
			pidFile := filepath.Join(dir, "data", "postmaster.pid")
			content := strconv.Itoa(sleep.Process.Pid) + "\n" + filepath.Join(dir, "data") + "\n0\n5432\n\n\n0 0\nready   \n"
			if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"stale postmaster.pid naming a dead process", func(t *testing.T, dir string, in *localpg.Instance) {
			stop(t, in)
			done := exec.Command("true")
			if err := done.Run(); err != nil {
				t.Fatal(err)
			}
			content := strconv.Itoa(done.Process.Pid) + "\n" + filepath.Join(dir, "data") + "\n"
			for _, f := range []string{filepath.Join(dir, "data", "postmaster.pid"), filepath.Join(dir, ".s.PGSQL.5432.lock")} {
				if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"orphaned postmaster still running", func(t *testing.T, dir string, in *localpg.Instance) {
			// in keeps running: the next Start finds a live postmaster on its data dir.
			t.Cleanup(func() {
				if alive(in.PID()) {
					t.Errorf("orphaned postmaster %d still running after a new Start", in.PID())
				}
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "pg")
			in := start(t, dir)
			put(t, in, "before@example.org")
			tc.crash(t, dir, in)
			in2 := start(t, dir)
			has(t, in2, "before@example.org")
		})
	}
}

// TestExitedSaysWhenThePostmasterDies: nothing restarts a postmaster that
// died under a running kubelab, so Exited must tell, for serve to stop.
func TestExitedSaysWhenThePostmasterDies(t *testing.T) {
	t.Parallel()
	in := start(t, filepath.Join(t.TempDir(), "pg"))
	select {
	case <-in.Exited():
		t.Fatal("Exited is closed while the postmaster runs")
	default:
	}
	if err := syscall.Kill(in.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Exited():
	case <-time.After(time.Minute):
		t.Fatal("Exited is still open a minute after the postmaster was killed")
	}
}

// TestKubelabKilled kills a process that started the private PostgreSQL with
// -9, as a crash of kubelab would, and starts again on the same data dir.
func TestKubelabKilled(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pg")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var word string
	var pgPID int
	if _, err := fmt.Fscan(out, &word, &pgPID); err != nil || word != "ready" {
		_ = cmd.Process.Kill()
		t.Fatalf("helper: %q %v", word, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	in := start(t, dir)
	put(t, in, "after@example.org")
	if alive(pgPID) {
		t.Errorf("postmaster %d of the killed process still running", pgPID)
	}
}

func TestHalfFinishedInitdb(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pg")
	tmp := filepath.Join(dir, "data.initdb-tmp")
	if err := os.MkdirAll(filepath.Join(tmp, "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "postgresql.conf"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, dir)
	put(t, in, "x@example.org")
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", tmp, err)
	}
}

func TestNoBinaries(t *testing.T) {
	t.Parallel()
	_, err := localpg.Start(t.Context(), localpg.Options{DataDir: filepath.Join(t.TempDir(), "pg"), SearchPath: []string{t.TempDir()}})
	if !errors.Is(err, localpg.ErrNoPostgres) {
		t.Fatalf("Start without binaries: %v, want ErrNoPostgres", err)
	}
	for _, want := range []string{"apt-get install postgresql", "--database-url", "KUBELAB_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestSideBySide(t *testing.T) {
	t.Parallel()
	a := start(t, filepath.Join(t.TempDir(), "a"))
	b := start(t, filepath.Join(t.TempDir(), "b"))
	if a.URL() == b.URL() {
		t.Fatalf("two instances share the URL %s", a.URL())
	}
	put(t, a, "a@example.org")
	put(t, b, "b@example.org")
	st, err := store.Open(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.UserByEmail(t.Context(), "a@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("instance b sees a's user: %v", err)
	}
}

// BenchmarkStartFirst measures initdb + start until PostgreSQL accepts
// connections, with production settings.
func BenchmarkStartFirst(b *testing.B) {
	root := b.TempDir()
	for i := range b.N {
		dir := filepath.Join(root, strconv.Itoa(i))
		in, err := localpg.Start(b.Context(), localpg.Options{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := in.Stop(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkStartWarm measures a restart on an existing cluster until it
// accepts connections, with production settings.
func BenchmarkStartWarm(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "pg")
	in, err := localpg.Start(b.Context(), localpg.Options{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	if err := in.Stop(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		in, err := localpg.Start(b.Context(), localpg.Options{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := in.Stop(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
