// Package procstat reads a process's memory figures from /proc, for the
// benchmarks and memory tests that report or bound kubelab's footprint.
package procstat

import (
	"fmt"
	"os"
	"strings"
)

// RSS returns the resident set size in bytes of pid ("self" for this process).
func RSS(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(rest, "%d", &kb); err != nil {
				return 0, fmt.Errorf("read rss: VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("read rss: no VmRSS in /proc/%s/status", pid)
}
