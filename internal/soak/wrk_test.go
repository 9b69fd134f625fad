package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const wrkClean = `Running 3s test @ http://127.0.0.1:18181/chapters/pods
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.66ms   11.47ms 112.39ms   90.08%
    Req/Sec    13.81k    11.72k   37.06k    61.29%
  Latency Distribution
     50%   64.00us
     75%    6.77ms
     90%   17.02ms
     99%   59.23ms
  42613 requests in 3.11s, 19.47MB read
Requests/sec:  13711.10
Transfer/sec:      6.26MB
`

const wrkErrors = `Running 10s test @ http://127.0.0.1:18181/
  1 threads and 10 connections
  Latency Distribution
     50%    1.20s
     75%    2.00s
     90%    3.50s
     99%    1.02m
  812 requests in 10.00s, 9.37MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 12
Requests/sec:     81.20
Transfer/sec:      4.58MB
`

func TestParseWrk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr string
	}{
		{"clean", wrkClean, wrkResult{Requests: 42613, PerSecond: 13711.10, P50: 64 * time.Microsecond, P90: 17020 * time.Microsecond, P99: 59230 * time.Microsecond}, ""},
		{"errors and slow", wrkErrors, wrkResult{Requests: 812, PerSecond: 81.2, P50: 1200 * time.Millisecond, P90: 3500 * time.Millisecond,
			P99: 61200 * time.Millisecond, Non2xx: 12, SocketErrors: 7}, ""},
		{"without --latency", strings.Replace(wrkClean, "  Latency Distribution\n     50%   64.00us\n", "", 1), wrkResult{}, "lacks 50%"},
		{"a unit wrk never prints", strings.Replace(wrkClean, "64.00us", "64.00ns", 1), wrkResult{}, `duration "64.00ns"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseWrk(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseWrk error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Rounding of the float units is not the point.
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b time.Duration) bool { return (a - b).Abs() < time.Microsecond })); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
		})
	}
}
