package jail

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// The learner's home lives on a tmpfs inside the jail's mount namespace.
// kubelab's editor reaches it from outside through /proc/PID/root of the
// jail's first process, as an os.Root: every path is resolved beneath the
// home, so neither ".." nor a symlink the learner planted can lead out of
// it, and the tmpfs's size limit holds for what kubelab writes too.

// MaxHomeFile is the largest file the editor opens or saves.
const MaxHomeFile = 1 << 20

const (
	maxHomeEntries = 2000 // a listing stops there
	maxHomeDepth   = 8
)

// The errors of Home's operations; callers turn them into sentences.
var (
	ErrHomeName     = errors.New("not a file name inside the home directory")
	ErrHomeNotFound = errors.New("no such file in the home directory")
	ErrHomeNotFile  = errors.New("not a regular file")
	ErrHomeTooLarge = errors.New("file too large for the editor")
	ErrHomeNotText  = errors.New("not a text file")
	ErrHomeFull     = errors.New("the home directory is full")
	ErrHomeGone     = errors.New("the shell has ended")
)

// owner is the user outside the jail that its learner is (as root, kubelab
// runs the jail as Options.UID). kubelab touches the home as that user:
// root is not mapped in the jail's user namespace, so the kernel would
// refuse to create files for it, and the learner's permissions should hold.
type owner struct{ uid, gid int }

// asLearner runs fn with the file system identity of the jail's learner,
// on a locked thread of its own: fsuid is per thread, and a thread that
// could not switch back dies with its goroutine instead of serving others.
func (h *Home) asLearner(fn func() error) error {
	if h.owner == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := setFSIdentity(h.owner.uid, h.owner.gid); err != nil {
			errc <- err // the thread stays locked: it dies with this goroutine
			return
		}
		err := fn()
		if setFSIdentity(0, 0) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// setFSIdentity sets the calling thread's fsuid and fsgid and checks that
// they took (the system calls report no failure of their own).
func setFSIdentity(uid, gid int) error {
	if uid == 0 {
		_, _ = unix.SetfsuidRetUid(uid) // back to root first: it may set any gid
		_, _ = unix.SetfsgidRetGid(gid)
	} else {
		_, _ = unix.SetfsgidRetGid(gid)
		_, _ = unix.SetfsuidRetUid(uid)
	}
	u, _ := unix.SetfsuidRetUid(-1)
	g, _ := unix.SetfsgidRetGid(-1)
	if u != uid || g != gid {
		return fmt.Errorf("act as uid %d gid %d in the home directory: the thread is %d/%d", uid, gid, u, g)
	}
	return nil
}

// Home is a running shell's home directory, opened for the editor. Close
// it after use.
type Home struct {
	root  *os.Root
	owner *owner
}

// HomeEntry is one file or directory of a listing; Path is relative to the
// home and uses slashes.
type HomeEntry struct {
	Path string `json:"path"`
	Dir  bool   `json:"dir,omitempty"`
	Size int64  `json:"size"`
}

// Home opens the shell's home directory.
func (s *Shell) Home() (*Home, error) {
	if s.exited() || s.pid <= 0 {
		return nil, ErrHomeGone
	}
	// The jail's first process exists before bwrap has made its mounts:
	// until then its root is the host's, without the home.
	var root *os.Root
	var err error
	for range 100 {
		root, err = os.OpenRoot(fmt.Sprintf("/proc/%d/root%s", s.pid, jailHome))
		if !errors.Is(err, fs.ErrNotExist) || s.exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("open the shell's home: %w", err)
	}
	// The pid could have been reused had the jail ended meanwhile.
	if s.exited() {
		root.Close()
		return nil, ErrHomeGone
	}
	return &Home{root: root, owner: s.owner}, nil
}

func (s *Shell) exited() bool {
	select {
	case <-s.waited:
		return true
	default:
		return false
	}
}

// Close releases the home directory.
func (h *Home) Close() error { return h.root.Close() }

// homeName checks that name is a relative path inside the home and
// returns it cleaned.
func homeName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") {
		return "", ErrHomeName
	}
	clean := path.Clean(name)
	if clean == "." || !fs.ValidPath(clean) || len(clean) > 1024 {
		return "", ErrHomeName
	}
	return clean, nil
}

// homeErr maps what os.Root reports to Home's errors.
func homeErr(op, name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = ErrHomeNotFound
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EFBIG), errors.Is(err, syscall.EDQUOT):
		err = ErrHomeFull
	case strings.Contains(err.Error(), "path escapes from parent"):
		err = ErrHomeName
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ELOOP):
		err = ErrHomeNotFile
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// List returns the home's files and directories, depth first in name
// order, without hidden ones (names starting with a dot) and without
// following symlinks. truncated says the listing stopped at its limit.
func (h *Home) List() (entries []HomeEntry, truncated bool, err error) {
	err = h.asLearner(func() error {
		entries, truncated, err = h.list()
		return err
	})
	return entries, truncated, err
}

func (h *Home) list() (entries []HomeEntry, truncated bool, err error) {
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		f, err := h.root.Open(cmpOr(dir, "."))
		if err != nil {
			return homeErr("list", cmpOr(dir, "~"), err)
		}
		des, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return homeErr("list", cmpOr(dir, "~"), err)
		}
		slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		for _, de := range des {
			if strings.HasPrefix(de.Name(), ".") {
				continue
			}
			if len(entries) == maxHomeEntries {
				truncated = true
				return nil
			}
			p := path.Join(dir, de.Name())
			switch {
			case de.IsDir():
				entries = append(entries, HomeEntry{Path: p, Dir: true})
				if depth < maxHomeDepth {
					if err := walk(p, depth+1); err != nil {
						return err
					}
				}
			case de.Type().IsRegular():
				var size int64
				if info, err := de.Info(); err == nil {
					size = info.Size()
				}
				entries = append(entries, HomeEntry{Path: p, Size: size})
			}
		}
		return nil
	}
	if err := walk("", 0); err != nil {
		return nil, false, err
	}
	return entries, truncated, nil
}

// ReadFile returns a text file of the home, at most MaxHomeFile bytes.
func (h *Home) ReadFile(name string) (data []byte, err error) {
	clean, err := homeName(name)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", name, err)
	}
	err = h.asLearner(func() error {
		data, err = h.readFile(clean)
		return err
	})
	return data, err
}

func (h *Home) readFile(clean string) ([]byte, error) {
	// O_NONBLOCK: a FIFO the learner made must not hang kubelab.
	f, err := h.root.OpenFile(clean, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, homeErr("read", clean, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, homeErr("read", clean, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: %w", clean, ErrHomeNotFile)
	}
	if info.Size() > MaxHomeFile {
		return nil, fmt.Errorf("read %s: %w", clean, ErrHomeTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxHomeFile+1))
	if err != nil {
		return nil, homeErr("read", clean, err)
	}
	if len(b) > MaxHomeFile {
		return nil, fmt.Errorf("read %s: %w", clean, ErrHomeTooLarge)
	}
	if !utf8.Valid(b) || slices.Contains(b, 0) {
		return nil, fmt.Errorf("read %s: %w", clean, ErrHomeNotText)
	}
	return b, nil
}

// WriteFile replaces (or creates) a file of the home with data, making
// its directories. A reader never sees half a file: data goes to a new
// file that is then renamed over the old one (a symlink there is
// replaced, not followed).
func (h *Home) WriteFile(name string, data []byte) error {
	clean, err := homeName(name)
	if err != nil {
		return fmt.Errorf("write %q: %w", name, err)
	}
	if len(data) > MaxHomeFile {
		return fmt.Errorf("write %s: %w", clean, ErrHomeTooLarge)
	}
	return h.asLearner(func() error { return h.writeFile(clean, data) })
}

func (h *Home) writeFile(clean string, data []byte) error {
	if dir := path.Dir(clean); dir != "." {
		if err := h.mkdirs(dir); err != nil {
			return err
		}
	}
	tmp := path.Join(path.Dir(clean), ".kubelab-save-"+rand.Text())
	f, err := h.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return homeErr("write", clean, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = h.root.Rename(tmp, clean)
	}
	if err != nil {
		_ = h.root.Remove(tmp)
		return homeErr("write", clean, err)
	}
	return nil
}

// mkdirs makes dir and its missing parents, owned by the learner.
func (h *Home) mkdirs(dir string) error {
	cur := ""
	for part := range strings.SplitSeq(dir, "/") {
		cur = path.Join(cur, part)
		if err := h.root.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return homeErr("make directory", cur, err)
		}
	}
	return nil
}
