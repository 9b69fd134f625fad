package jail_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/sandbox/jail"
)

// startedShell starts a jailed shell and collects what it prints.
func startedShell(t *testing.T) (*jail.Shell, *shellOutput) {
	t.Helper()
	return startedShellOn(t, newAPIServer(t))
}

// startedShellOn is startedShell with api as its API server.
func startedShellOn(t *testing.T, api *apiServer) (*jail.Shell, *shellOutput) {
	t.Helper()
	sh, err := sharedJail(t).Shell(t.Context(), api.spec(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close(); sh.Wait() })
	out := &shellOutput{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := sh.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return sh, out
}

// TestHomeIsTheShells: what the editor saves, the shell sees at once (and
// may change and delete: it is the learner's), and what the shell writes,
// the editor reads.
func TestHomeIsTheShells(t *testing.T) {
	t.Parallel()
	sh, out := startedShell(t)
	home, err := sh.Home()
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	if err := home.WriteFile("manifests/pod.yaml", []byte("kind: Pod\n")); err != nil {
		t.Fatal(err)
	}
	io.WriteString(sh, "cat ~/manifests/pod.yaml; stat -c '%U %a' ~/manifests ~/manifests/pod.yaml | tr '\\n' ' '; echo; echo more >> ~/manifests/pod.yaml && printf 'from the shell\\n' > ~/notes.txt && echo wrote-$((40+2))\r")
	out.waitFor(t, "wrote-42")
	out.mu.Lock()
	printed := out.buf.String()
	out.mu.Unlock()
	if !strings.Contains(printed, "kind: Pod") || !strings.Contains(printed, "learner 755 learner 644") {
		t.Errorf("the shell saw:\n%s\nwant the file's content, owned by learner", printed)
	}
	got, err := home.ReadFile("notes.txt")
	if err != nil || string(got) != "from the shell\n" {
		t.Errorf("ReadFile(notes.txt) = %q, %v", got, err)
	}
	if got, _ := home.ReadFile("manifests/pod.yaml"); string(got) != "kind: Pod\nmore\n" {
		t.Errorf("ReadFile(manifests/pod.yaml) = %q after the shell appended", got)
	}
	entries, truncated, err := home.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []jail.HomeEntry{{Path: "manifests", Dir: true}, {Path: "manifests/pod.yaml", Size: 15}, {Path: "notes.txt", Size: 15}}
	if diff := cmp.Diff(want, entries); diff != "" || truncated {
		t.Errorf("List (-want +got), hidden files left out:\n%s (truncated %v)", diff, truncated)
	}
}

// TestHomeCannotBeLeft attacks the editor's confinement from both sides:
// names that climb out, and links, FIFOs and files the learner planted.
func TestHomeCannotBeLeft(t *testing.T) {
	t.Parallel()
	sh, out := startedShell(t)
	fmt.Fprint(sh, "ln -s /etc/passwd ~/passwd; ln -s / ~/rootdir; ln -s ../../.. ~/up; mkfifo ~/fifo; head -c 2000000 /dev/zero | tr '\\0' a > ~/big.txt; printf 'a\\0b' > ~/binary; echo planted-$((1+1))\r")
	out.waitFor(t, "planted-2")
	home, err := sh.Home()
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	for _, tc := range []struct {
		name string
		want error
	}{
		{"../../etc/passwd", jail.ErrHomeName},
		{"/etc/passwd", jail.ErrHomeName},
		{"", jail.ErrHomeName},
		{"a/../../x", jail.ErrHomeName},
		{"passwd", jail.ErrHomeName},
		{"rootdir/etc/passwd", jail.ErrHomeName},
		{"up/etc/passwd", jail.ErrHomeName},
		{"fifo", jail.ErrHomeNotFile},
		{"big.txt", jail.ErrHomeTooLarge},
		{"binary", jail.ErrHomeNotText},
		{"missing.yaml", jail.ErrHomeNotFound},
	} {
		if _, err := home.ReadFile(tc.name); !errors.Is(err, tc.want) {
			t.Errorf("ReadFile(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"../escaped.yaml", "x", jail.ErrHomeName},
		{"rootdir/tmp/escaped.yaml", "x", jail.ErrHomeName},
		{"up/tmp/escaped.yaml", "x", jail.ErrHomeName},
		{"too-big.yaml", strings.Repeat("x", jail.MaxHomeFile+1), jail.ErrHomeTooLarge},
	} {
		if err := home.WriteFile(tc.name, []byte(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("WriteFile(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Saving over a planted symlink replaces the link, never its target.
	if err := home.WriteFile("passwd", []byte("mine\n")); err != nil {
		t.Fatalf("WriteFile over a symlink: %v", err)
	}
	fmt.Fprint(sh, "test -L ~/passwd || cat ~/passwd; head -1 /etc/passwd; echo checked-$((2+1))\r")
	out.waitFor(t, "checked-3")
	out.mu.Lock()
	printed := out.buf.String()
	out.mu.Unlock()
	if !strings.Contains(printed, "mine") || !strings.Contains(printed, "root:x:0:0") {
		t.Errorf("after saving over ~/passwd the shell printed:\n%s\nwant the saved file and an untouched /etc/passwd", printed)
	}
	// The home's size limit holds for what kubelab writes too.
	var full error
	for i := range 100 {
		if full = home.WriteFile(fmt.Sprintf("fill-%d.txt", i), []byte(strings.Repeat("y", jail.MaxHomeFile))); full != nil {
			break
		}
	}
	if !errors.Is(full, jail.ErrHomeFull) {
		t.Errorf("filling the home: %v, want %v", full, jail.ErrHomeFull)
	}
	sh.Close()
	sh.Wait()
	if _, err := sh.Home(); !errors.Is(err, jail.ErrHomeGone) {
		t.Errorf("Home after the shell ended: %v, want %v", err, jail.ErrHomeGone)
	}
}
