package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// When kubelab runs as root it needs no forwarder inside the jail: it opens
// the jail's API ports itself, in the jail's network namespace, and relays
// them from outside. That saves a process per shell (the kubelab binary,
// about 100 ms to start and tens of MB) and the unix socket hop. Without
// root, setns into the jail's namespace is not allowed and the forwarder
// serves.

// childPID reads the pid of the jail's first process from bwrap's
// --info-fd, which bwrap writes once the namespaces exist.
func childPID(info *os.File, within time.Duration) (int, error) {
	_ = info.SetReadDeadline(time.Now().Add(within))
	var v struct {
		ChildPID int `json:"child-pid"`
	}
	if err := json.NewDecoder(info).Decode(&v); err != nil {
		return 0, fmt.Errorf("read the jail's pid from bubblewrap: %w", err)
	}
	if v.ChildPID <= 0 {
		return 0, fmt.Errorf("bubblewrap reported pid %d", v.ChildPID)
	}
	return v.ChildPID, nil
}

// listenIn opens a TCP listener on each of addrs inside the network
// namespace of process pid.
func listenIn(pid int, addrs []string) ([]net.Listener, error) {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("open the jail's network namespace: %w", err)
	}
	defer target.Close()
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open kubelab's network namespace: %w", err)
	}
	defer own.Close()
	type result struct {
		lns []net.Listener
		err error
	}
	done := make(chan result, 1)
	// A goroutine of its own on a locked thread: a thread that could not
	// come back to kubelab's namespace dies with the goroutine (it stays
	// locked), so no other goroutine ever runs in the jail's.
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter the jail's network namespace: %w", err)}
			return
		}
		var r result
		for _, addr := range addrs {
			ln, err := listenSoon(addr)
			if err != nil {
				r.err = fmt.Errorf("listen on %s in the jail: %w", addr, err)
				break
			}
			r.lns = append(r.lns, ln)
		}
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("return to kubelab's network namespace: %w", err)
		} else {
			runtime.UnlockOSThread()
		}
		if r.err != nil {
			for _, ln := range r.lns {
				ln.Close()
			}
			r.lns = nil
		}
		done <- r
	}()
	r := <-done
	return r.lns, r.err
}

// listenSoon listens on addr in the current network namespace. bwrap
// names the jail's first process before that process has brought up its
// loopback interface: until then 127.0.0.1 "cannot be assigned", for a
// few milliseconds.
func listenSoon(addr string) (net.Listener, error) {
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) || try == 200 {
			return ln, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
