package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

// Latency series the report prints, in this order.
const (
	latStartReady  = "start → ready"
	latResetReady  = "reset → ready"
	latPrompt      = "terminal → prompt"
	latEcho        = "keystroke → echo"
	latGreen       = "change → green"
	latGridCell    = "change → grid cell"
	latGreenCell   = "  green → grid cell" // its part after change → green: the grid's own
	latAPI         = "api call"
	latPageRoot    = "page / (wrk)"
	latPageChapter = "page /chapters/… (wrk)"
)

var latencyOrder = []string{latStartReady, latResetReady, latPrompt, latEcho, latGreen, latGridCell, latGreenCell, latAPI, latPageRoot, latPageChapter}

// recorder collects what the learners see: errors by kind, latencies and
// counts of work done. It is safe for concurrent use.
type recorder struct {
	mu      sync.Mutex
	errors  map[string]*errorKind
	lat     map[string][]time.Duration
	counts  map[string]int
	rates   map[string][]float64 // wrk's requests/s per page, one per burst
	samples []sample
	errLog  io.Writer // every error as it happens, whole; nil: none
}

type errorKind struct {
	n     int
	first string // the first message of the kind, for the report
}

func newRecorder(errLog io.Writer) *recorder {
	return &recorder{errors: map[string]*errorKind{}, lat: map[string][]time.Duration{}, counts: map[string]int{}, rates: map[string][]float64{}, errLog: errLog}
}

// fail records one error of a kind ("http 500 POST session"), with a
// message that says what happened.
func (r *recorder) fail(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if r.errLog != nil {
		fmt.Fprintf(r.errLog, "error (%s): %s\n", kind, msg)
	}
	k := r.errors[kind]
	if k == nil {
		k = &errorKind{first: msg}
		r.errors[kind] = k
	}
	k.n++
}

func (r *recorder) latency(name string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat[name] = append(r.lat[name], d)
}

func (r *recorder) count(name string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[name] += n
}

func (r *recorder) wrkRate(path string, perSecond float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rates[path] = append(r.rates[path], perSecond)
}

func (r *recorder) sample(s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s)
}

// errorTotal is the number of errors of every kind.
func (r *recorder) errorTotal() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.errors {
		n += k.n
	}
	return n
}

// sample is kubelab's state at one moment.
type sample struct {
	At         time.Duration // since the soak started
	RSS        int64         // bytes; 0: unknown
	Goroutines int           // -1: unknown
	Threads    int
	Procs      int // processes under kubelab (jails, PostgreSQL, clusters)
	Sandboxes  int // ready sandboxes, from kubelab's /metrics; -1: unknown
	// CPU time used so far by kubelab's process, and by it with every
	// process below it; the report shows their rate between samples.
	CPU, TreeCPU time.Duration
	Load         float64 // the machine's one-minute load average
	// SoakCPU is the CPU time the soak itself (learners, wrk bursts
	// aside) used so far: the load driver shares the machine.
	SoakCPU time.Duration
	// MachineBusy and MachineAll are the machine's CPU time so far (all
	// CPUs, from /proc/stat): busy (neither idle nor waiting for I/O) and
	// in all; the load average counts waiting threads too.
	MachineBusy, MachineAll time.Duration
}

// summary is the percentiles of a latency series.
type summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// summarize sorts a copy of ds and takes nearest-rank percentiles.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return summary{N: len(s), P50: percentile(s, 50), P90: percentile(s, 90), P99: percentile(s, 99), Max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile p of sorted s.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// trend is how a series moved over a window: the least-squares line's rise
// across the window, relative to the series' mean there.
type trend struct {
	N             int
	First, Last   float64 // the line's value at the window's ends
	Min, Max      float64
	Growth        float64 // (Last-First)/mean
	Flat          bool    // Growth within the allowed bound
	Known         bool    // enough samples with a value
	Before, After float64 // the raw first and last sample in the window
}

// trendOf fits a line through the points (x in any unit) and reports its
// rise over the points' span.
func trendOf(xs, ys []float64, maxGrowth float64) trend {
	var t trend
	t.N = len(xs)
	if len(xs) < 3 {
		return t
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	t.Min, t.Max = math.Inf(1), math.Inf(-1)
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
		t.Min, t.Max = math.Min(t.Min, ys[i]), math.Max(t.Max, ys[i])
	}
	mean := sy / n
	den := n*sxx - sx*sx
	if den == 0 || mean == 0 {
		return t
	}
	slope := (n*sxy - sx*sy) / den
	icept := (sy - slope*sx) / n
	t.First, t.Last = icept+slope*xs[0], icept+slope*xs[len(xs)-1]
	t.Before, t.After = ys[0], ys[len(ys)-1]
	t.Growth = (t.Last - t.First) / mean
	t.Flat = t.Growth <= maxGrowth // falling is never a leak
	t.Known = true
	return t
}

// windowTrends are RSS's and goroutines' trends over the samples of the
// last window before end.
func windowTrends(samples []sample, end, window time.Duration, maxGrowth float64) (rss, gor trend) {
	var rx, ry, gx, gy []float64
	for _, s := range samples {
		if s.At < end-window || s.At > end {
			continue
		}
		if s.RSS > 0 {
			rx, ry = append(rx, s.At.Seconds()), append(ry, float64(s.RSS))
		}
		if s.Goroutines >= 0 {
			gx, gy = append(gx, s.At.Seconds()), append(gy, float64(s.Goroutines))
		}
	}
	return trendOf(rx, ry, maxGrowth), trendOf(gx, gy, maxGrowth)
}

// sortedKinds returns error kinds, the most frequent first.
func (r *recorder) sortedKinds() []string {
	kinds := make([]string, 0, len(r.errors))
	for k := range r.errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		a, b := r.errors[kinds[i]], r.errors[kinds[j]]
		if a.n != b.n {
			return a.n > b.n
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}
