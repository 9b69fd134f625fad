package jail

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is where the kernel's cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// jailCPUShares is each jail's CPU weight under cgroup v1 (the default is
// 1024): busy jails share the CPU evenly among themselves, and kubelab,
// at the full weight, keeps its part.
const jailCPUShares = 512

// cgroups is where kubelab makes one cgroup per jail: a directory per
// controller under cgroup v1, one directory under a delegated cgroup v2.
type cgroups struct {
	v2      bool
	parents map[string]string // controller ("" under v2) → kubelab-jails directory
}

// findCgroups finds kubelab's own cgroup and makes kubelab-jails beneath it,
// for memory, pids and cpu. It fails where kubelab may not (not root, or v2
// without those controllers delegated).
func findCgroups() (*cgroups, error) {
	own, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	defer own.Close()
	v1 := map[string]string{} // controller → own path
	v2path := ""
	sc := bufio.NewScanner(own)
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2path = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			v1[c] = parts[2]
		}
	}
	cg := &cgroups{parents: map[string]string{}}
	if _, ok := v1["memory"]; ok {
		for _, c := range []string{"memory", "pids", "cpu"} {
			path, ok := v1[c]
			if !ok {
				return nil, fmt.Errorf("cgroup v1 controller %s is not mounted", c)
			}
			cg.parents[c] = filepath.Join(cgroupRoot, c, path, "kubelab-jails")
		}
	} else {
		cg.v2 = true
		own := filepath.Join(cgroupRoot, v2path)
		have, err := os.ReadFile(filepath.Join(own, "cgroup.subtree_control"))
		if err != nil {
			return nil, fmt.Errorf("cgroup v2: %w", err)
		}
		for _, c := range []string{"memory", "pids", "cpu"} {
			if !strings.Contains(" "+strings.TrimSpace(string(have))+" ", " "+c+" ") {
				return nil, fmt.Errorf("cgroup v2: controller %s is not delegated to %s (cgroup.subtree_control: %q)", c, own, strings.TrimSpace(string(have)))
			}
		}
		cg.parents[""] = filepath.Join(own, "kubelab-jails")
	}
	for _, dir := range cg.parents {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if cg.v2 {
			if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
				return nil, fmt.Errorf("enable controllers in %s: %w", dir, err)
			}
		}
		// It may exist from an earlier run as someone else.
		probe := filepath.Join(dir, "probe-"+strconv.Itoa(os.Getpid()))
		if err := os.Mkdir(probe, 0o755); err != nil {
			return nil, fmt.Errorf("create a cgroup in %s: %w", dir, err)
		}
		_ = os.Remove(probe)
	}
	return cg, nil
}

// jailCgroup is one jail's cgroup: its directory in each hierarchy.
type jailCgroup struct {
	dirs []string
	v2   bool
}

// create makes the cgroup called name with the limits l.
func (cg *cgroups) create(name string, l Limits) (_ *jailCgroup, err error) {
	jc := &jailCgroup{v2: cg.v2}
	defer func() {
		if err != nil {
			jc.remove()
		}
	}()
	for c, parent := range cg.parents {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create jail cgroup: %w", err)
		}
		jc.dirs = append(jc.dirs, dir)
		var settings map[string]string
		switch c {
		case "memory":
			settings = map[string]string{"memory.limit_in_bytes": strconv.FormatInt(l.TotalMemory, 10)}
		case "pids":
			settings = map[string]string{"pids.max": strconv.Itoa(l.Processes)}
		case "cpu":
			settings = map[string]string{"cpu.shares": strconv.Itoa(jailCPUShares)}
		case "":
			settings = map[string]string{
				"memory.max": strconv.FormatInt(l.TotalMemory, 10),
				"pids.max":   strconv.Itoa(l.Processes),
				"cpu.weight": strconv.Itoa(jailCPUShares * 100 / 1024),
			}
		}
		for file, v := range settings {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
				return nil, fmt.Errorf("set jail cgroup %s: %w", file, err)
			}
		}
	}
	return jc, nil
}

// add moves process pid (and its threads) into the cgroup.
func (jc *jailCgroup) add(pid int) error {
	for _, dir := range jc.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("move jail into its cgroup: %w", err)
		}
	}
	return nil
}

// remove kills whatever still runs in the cgroup and deletes it.
func (jc *jailCgroup) remove() {
	if jc == nil || len(jc.dirs) == 0 {
		return
	}
	procs := filepath.Join(jc.dirs[0], "cgroup.procs")
	if jc.v2 {
		_ = os.WriteFile(filepath.Join(jc.dirs[0], "cgroup.kill"), []byte("1"), 0)
	}
	for range 100 {
		b, err := os.ReadFile(procs)
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			break
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, dir := range jc.dirs {
		_ = os.Remove(dir)
	}
}
