package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests     int
	PerSecond    float64
	P50, P90     time.Duration
	P99          time.Duration
	Non2xx       int // wrk counts 3xx as success too
	SocketErrors int // connect, read, write and timeout together
}

// parseWrk reads wrk's --latency output.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "90%" || f[0] == "99%"):
			var d time.Duration
			if d, err = parseWrkDuration(f[1]); err == nil {
				seen[f[0]] = true
				switch f[0] {
				case "50%":
					r.P50 = d
				case "90%":
					r.P90 = d
				case "99%":
					r.P99 = d
				}
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.Requests, err = strconv.Atoi(f[0])
			seen["requests"] = err == nil
		case f[0] == "Requests/sec:" && len(f) == 2:
			r.PerSecond, err = strconv.ParseFloat(f[1], 64)
			seen["rate"] = err == nil
		case f[0] == "Non-2xx":
			r.Non2xx, err = strconv.Atoi(f[len(f)-1])
		case f[0] == "Socket" && len(f) > 2 && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 5
			for i := 2; i+1 < len(f); i += 2 {
				n, e := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				if e != nil {
					err = e
					break
				}
				r.SocketErrors += n
			}
		}
		if err != nil {
			return r, fmt.Errorf("wrk output line %q: %w", sc.Text(), err)
		}
	}
	for _, k := range []string{"50%", "99%", "requests", "rate"} {
		if !seen[k] {
			return r, fmt.Errorf("wrk output lacks %s (run with --latency?):\n%s", k, out)
		}
	}
	return r, nil
}

// parseWrkDuration reads wrk's units: 64.00us, 6.77ms, 1.20s, 2.00m.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}

// page is one URL wrk loads, with the latency series it feeds.
type page struct {
	path    string
	series  string
	headers []string
}

// wrkBurst loads every page at once for d, as the soak's page traffic.
func wrkBurst(ctx context.Context, base string, pages []page, d time.Duration, conns int, r *recorder) {
	var wg sync.WaitGroup
	for _, p := range pages {
		wg.Go(func() {
			args := []string{"-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--timeout", "10s", "--latency"}
			for _, h := range p.headers {
				args = append(args, "-H", h)
			}
			out, err := exec.CommandContext(ctx, "wrk", append(args, base+p.path)...).CombinedOutput()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.fail("wrk failed", "wrk %s: %v: %s", p.path, err, out)
				return
			}
			res, err := parseWrk(string(out))
			if err != nil {
				r.fail("wrk output", "%v", err)
				return
			}
			if res.Requests == 0 {
				// wrk counts a request still waiting at the end as nothing.
				r.fail("page did not answer within a burst (wrk "+p.path+")", "no request to %s finished within %s", p.path, d)
				return
			}
			// wrk gives percentiles only: they are kept per burst.
			r.latency(p.series, res.P50)
			r.latency(p.series+" p99", res.P99)
			r.count("wrk requests "+p.path, res.Requests)
			r.count("wrk bursts "+p.path, 1)
			r.wrkRate(p.path, res.PerSecond)
			if res.Non2xx > 0 {
				r.fail("page answered non-2xx (wrk "+p.path+")", "%d of %d requests to %s were neither 2xx nor 3xx", res.Non2xx, res.Requests, p.path)
			}
			if res.SocketErrors > 0 {
				r.fail("page socket errors (wrk "+p.path+")", "%d socket errors (connect, read, write or 10 s timeout) loading %s", res.SocketErrors, p.path)
			}
		})
	}
	wg.Wait()
}
