package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

func (s sample) String() string {
	parts := []string{"rss " + mib(s.RSS)}
	if s.Goroutines >= 0 {
		parts = append(parts, fmt.Sprintf("goroutines %d", s.Goroutines))
	}
	parts = append(parts, fmt.Sprintf("threads %d", s.Threads), fmt.Sprintf("processes %d", s.Procs), fmt.Sprintf("machine load %.1f", s.Load))
	if s.Sandboxes >= 0 {
		parts = append(parts, fmt.Sprintf("ready sandboxes %d", s.Sandboxes))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// gridCellTarget is issue #17's bound on change → grid cell's p99: an
// instructor sees a learner's task pass within a second.
const gridCellTarget = time.Second

// report prints the whole outcome; the caller prints the errors line.
func report(w io.Writer, o options, r *recorder, end time.Duration) {
	r.mu.Lock()
	samples := slices.Clone(r.samples)
	r.mu.Unlock()
	rss, gor := windowTrends(samples, end, o.Window, o.MaxGrowth)
	// Growth is judged before the report is printed, so it counts.
	for _, g := range []struct {
		name string
		t    trend
	}{{"RSS", rss}, {"goroutines", gor}} {
		if g.t.Known && !g.t.Flat {
			r.fail("growth: "+g.name, "%s grew %+.1f%% over the last %s (fit %.0f → %.0f; allowed %+.0f%%)",
				g.name, 100*g.t.Growth, o.Window, g.t.First, g.t.Last, 100*o.MaxGrowth)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	event := ""
	if o.Event {
		event = ", an event's"
	}
	fmt.Fprintf(w, "\n== latency (%d learners%s, %d typing, %s + %s ramp)\n", o.Learners, event, o.Terminals, o.Duration, o.Ramp)
	fmt.Fprintf(w, "%-26s %8s %10s %10s %10s %10s\n", "", "n", "p50", "p90", "p99", "max")
	for _, name := range latencyOrder {
		if !o.Event && (name == latGridCell || name == latGreenCell) {
			continue // no grid without an event
		}
		s := summarize(r.lat[name])
		if s.N == 0 {
			fmt.Fprintf(w, "%-26s %8d\n", name, 0)
			continue
		}
		if name == latPageRoot || name == latPageChapter {
			// wrk reports percentiles, not samples: per burst, its p50 and p99.
			p99 := summarize(r.lat[name+" p99"])
			fmt.Fprintf(w, "%-26s %8s %10s %10s %10s %10s   (per burst: median of p50s, worst p99)\n", name,
				fmt.Sprintf("%d×", s.N), dur(s.P50), "", dur(p99.Max), "")
			continue
		}
		fmt.Fprintf(w, "%-26s %8d %10s %10s %10s %10s\n", name, s.N, dur(s.P50), dur(s.P90), dur(s.P99), dur(s.Max))
	}
	if s := summarize(r.lat[latGridCell]); s.N > 0 {
		verdict := "met"
		if s.P99 > gridCellTarget {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "%s p99 %s: the target (at most %s) is %s\n", latGridCell, dur(s.P99), dur(gridCellTarget), verdict)
	}
	for _, path := range slices.Sorted(maps.Keys(r.rates)) {
		rates := r.rates[path]
		fmt.Fprintf(w, "wrk %s: %.0f–%.0f requests/s per burst, %d requests\n", path, slices.Min(rates), slices.Max(rates), r.counts["wrk requests "+path])
	}

	fmt.Fprintf(w, "\n== kubelab over time (cpu: cores used since the row before, by kubelab / with all below it, approximate: a jail killed whole takes its processes' time along; busy: the machine's cores busy, everything on it; load: the machine's)\n")
	fmt.Fprintf(w, "%8s %10s %11s %8s %10s %10s %11s %5s %6s\n", "t", "rss", "goroutines", "threads", "processes", "sandboxes", "cpu", "busy", "load")
	// About twenty rows, and the last one.
	step := max(o.Sample, (end / 20).Round(o.Sample))
	prev := sample{}
	for i, s := range samples {
		if i > 0 && i < len(samples)-1 && s.At/step == samples[i-1].At/step {
			continue
		}
		cpu, busy := "", ""
		if dt := (s.At - prev.At).Seconds(); i > 0 && dt > 0 {
			cpu = fmt.Sprintf("%.2f / %.2f", (s.CPU-prev.CPU).Seconds()/dt, (s.TreeCPU-prev.TreeCPU).Seconds()/dt)
			busy = fmt.Sprintf("%.2f", (s.MachineBusy-prev.MachineBusy).Seconds()/dt)
		}
		prev = s
		fmt.Fprintf(w, "%8s %10s %11s %8d %10d %10s %11s %5s %6.1f\n", s.At.Round(time.Second), mib(s.RSS), known(s.Goroutines), s.Threads, s.Procs, known(s.Sandboxes), cpu, busy, s.Load)
	}
	fmt.Fprintf(w, "last %s: RSS %s; goroutines %s\n", o.Window, trendLine(rss, func(v float64) string { return mib(int64(v)) }),
		trendLine(gor, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
	if first, last, ok := windowEnds(samples, end, o.Window); ok {
		dt := (last.At - first.At).Seconds()
		busy := ""
		if all := last.MachineAll - first.MachineAll; all > 0 {
			busy = fmt.Sprintf(", its CPUs %.0f%% busy", 100*float64(last.MachineBusy-first.MachineBusy)/float64(all))
		}
		fmt.Fprintf(w, "last %s: kubelab used %.2f cores, %.2f with every process below it; the soak itself %.2f; the machine's load %.1f → %.1f%s\n", o.Window,
			(last.CPU-first.CPU).Seconds()/dt, (last.TreeCPU-first.TreeCPU).Seconds()/dt, (last.SoakCPU-first.SoakCPU).Seconds()/dt, first.Load, last.Load, busy)
	}

	fmt.Fprintf(w, "\n== work done\n")
	for _, k := range slices.Sorted(maps.Keys(r.counts)) {
		if strings.HasPrefix(k, "wrk ") {
			continue
		}
		fmt.Fprintf(w, "%-34s %d\n", k, r.counts[k])
	}

	fmt.Fprintf(w, "\n== errors by kind\n")
	if len(r.errors) == 0 {
		fmt.Fprintln(w, "(none)")
	}
	for _, k := range r.sortedKinds() {
		e := r.errors[k]
		fmt.Fprintf(w, "%6d  %s\n        first: %s\n", e.n, k, firstLine(e.first, 400))
	}
}

func trendLine(t trend, f func(float64) string) string {
	if !t.Known {
		return fmt.Sprintf("unknown (%d samples)", t.N)
	}
	verdict := "flat"
	if !t.Flat {
		verdict = "GROWING"
	}
	return fmt.Sprintf("%s → %s (fit %s → %s, %+.1f%%, range %s–%s, %d samples): %s",
		f(t.Before), f(t.After), f(t.First), f(t.Last), 100*t.Growth, f(t.Min), f(t.Max), t.N, verdict)
}

func known(v int) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprint(v)
}

func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func firstLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// windowEnds are the first and last samples of the last window before end.
func windowEnds(samples []sample, end, window time.Duration) (first, last sample, ok bool) {
	n := 0
	for _, s := range samples {
		if s.At < end-window || s.At > end {
			continue
		}
		if n == 0 {
			first = s
		}
		last, n = s, n+1
	}
	return first, last, n >= 2 && last.At > first.At
}
