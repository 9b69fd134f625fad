package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted: summarize sorts
	}
	tests := []struct {
		name string
		in   []time.Duration
		want summary
	}{
		{"none", nil, summary{}},
		{"one", ms(7), summary{N: 1, P50: 7 * time.Millisecond, P90: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"nearest rank", ms(hundred...), summary{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
		{"a slow tail", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 500), summary{N: 10, P50: time.Millisecond, P90: time.Millisecond, P99: 500 * time.Millisecond, Max: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]time.Duration(nil), tt.in...)
			if diff := cmp.Diff(tt.want, summarize(tt.in)); diff != "" {
				t.Errorf("summarize (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(in, tt.in); diff != "" {
				t.Errorf("summarize changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestTrend(t *testing.T) {
	t.Parallel()
	line := func(n int, f func(i int) float64) (xs, ys []float64) {
		for i := range n {
			xs, ys = append(xs, float64(i*10)), append(ys, f(i))
		}
		return xs, ys
	}
	tests := []struct {
		name     string
		f        func(i int) float64
		n        int
		wantFlat bool
		wantKnow bool
		growth   float64
	}{
		{"constant", func(int) float64 { return 500 }, 30, true, true, 0},
		{"noise around a level", func(i int) float64 { return 500 + float64(i%3*10-10) }, 30, true, true, 0},
		{"a leak", func(i int) float64 { return 500 + float64(i)*10 }, 31, false, true, 300.0 / 650},
		{"falling (memory given back)", func(i int) float64 { return 800 - float64(i)*10 }, 31, true, true, -300.0 / 650},
		{"too few samples", func(int) float64 { return 1 }, 2, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			xs, ys := line(tt.n, tt.f)
			got := trendOf(xs, ys, 0.10)
			if got.Flat != tt.wantFlat || got.Known != tt.wantKnow {
				t.Errorf("trend %+v: flat %v known %v, want flat %v known %v", got, got.Flat, got.Known, tt.wantFlat, tt.wantKnow)
			}
			if diff := cmp.Diff(tt.growth, got.Growth, cmpopts.EquateApprox(0, 0.02)); tt.wantKnow && diff != "" {
				t.Errorf("growth (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindowTrendsTakeTheLastWindowOnly(t *testing.T) {
	t.Parallel()
	var samples []sample
	for i := range 60 { // ten minutes, every ten seconds
		at := time.Duration(i) * 10 * time.Second
		rss := int64(100 << 20)
		if at < 5*time.Minute {
			rss = int64(i+1) << 20 // the ramp: growing, outside the window
		}
		samples = append(samples, sample{At: at, RSS: rss, Goroutines: -1})
	}
	rss, gor := windowTrends(samples, 10*time.Minute, 5*time.Minute, 0.10)
	if !rss.Known || !rss.Flat || rss.N != 30 {
		t.Errorf("RSS over the last 5 minutes: %+v, want flat over 30 samples", rss)
	}
	if gor.Known {
		t.Errorf("goroutines without a value: %+v, want unknown", gor)
	}
}

func TestRecorderCountsErrorsByKind(t *testing.T) {
	t.Parallel()
	r := newRecorder(nil)
	r.fail("http 500 POST session", "learner %d", 1)
	r.fail("http 500 POST session", "learner %d", 2)
	r.fail("task not green after its solution", "pods/run-hello-web")
	if got := r.errorTotal(); got != 3 {
		t.Errorf("errorTotal = %d, want 3", got)
	}
	if diff := cmp.Diff([]string{"http 500 POST session", "task not green after its solution"}, r.sortedKinds()); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if got := r.errors["http 500 POST session"].first; got != "learner 1" {
		t.Errorf("first message = %q, want the first one", got)
	}
}
