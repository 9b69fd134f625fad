package terminal_test

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kubelab/kubelab/server/terminal"
)

// gottyBin runs the side-by-side comparison when set: go test -bench . -args -gotty=/path/to/gotty
var gottyBin = flag.String("gotty", "", "gotty binary for side-by-side benchmarks (built outside this module)")

// wire is one side of a terminal connection for benchmarks: kubelab's
// protocol or gotty's.
type wire interface {
	send(p []byte) error
	// recv returns the next chunk of terminal output.
	recv() ([]byte, error)
	close()
}

type kubelabWire struct{ ws *websocket.Conn }

func dialKubelab(tb testing.TB, url string) *kubelabWire {
	tb.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	ws.WriteJSON(map[string]any{"type": "hello", "offset": 0})
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			tb.Fatalf("waiting for resume: %v", err)
		}
		if typ == websocket.TextMessage && bytes.Contains(data, []byte(`"resume"`)) {
			return &kubelabWire{ws: ws}
		}
	}
}

func (w *kubelabWire) send(p []byte) error { return w.ws.WriteMessage(websocket.BinaryMessage, p) }
func (w *kubelabWire) recv() ([]byte, error) {
	for {
		typ, data, err := w.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if typ == websocket.BinaryMessage {
			return data, nil
		}
	}
}
func (w *kubelabWire) close() { w.ws.Close() }

// gottyWire speaks gotty's webtty protocol: a JSON auth message, then
// input as '1'+bytes and output as '1'+base64.
type gottyWire struct{ ws *websocket.Conn }

func dialGotty(tb testing.TB, addr string) *gottyWire {
	tb.Helper()
	d := websocket.Dialer{Subprotocols: []string{"webtty"}}
	ws, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		tb.Fatalf("dial gotty: %v", err)
	}
	resp.Body.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"AuthToken":""}`))
	ws.WriteMessage(websocket.TextMessage, []byte(`3{"columns":80,"rows":24}`))
	return &gottyWire{ws: ws}
}

func (w *gottyWire) send(p []byte) error {
	return w.ws.WriteMessage(websocket.TextMessage, append([]byte{'1'}, p...))
}
func (w *gottyWire) recv() ([]byte, error) {
	for {
		_, data, err := w.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if len(data) > 0 && data[0] == '1' {
			return base64.StdEncoding.DecodeString(string(data[1:]))
		}
	}
}
func (w *gottyWire) close() { w.ws.Close() }

// startGotty runs gotty serving argv on a free loopback port.
func startGotty(tb testing.TB, argv ...string) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(*gottyBin, append([]string{"-w", "-a", "127.0.0.1", "-p", port}, argv...)...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start gotty: %v", err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("gotty did not start")
	return ""
}

// waitFor reads output until it contains want.
func waitFor(w wire, want []byte) (int64, error) {
	var n int64
	window := make([]byte, 0, 2*len(want)+64)
	for {
		data, err := w.recv()
		if err != nil {
			return n, err
		}
		n += int64(len(data))
		window = append(window, data...)
		if bytes.Contains(window, want) {
			return n, nil
		}
		if len(window) > len(want) {
			window = append(window[:0], window[len(window)-len(want):]...)
		}
	}
}

// keystrokes types b.N keys, alternately a letter and a backspace, each
// timed until its echo arrives, and reports p50 and p99.
func keystrokes(b *testing.B, w wire) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		key, echo := []byte("a"), []byte("a")
		if i%2 == 1 {
			key, echo = []byte{0x7f}, []byte("\b")
		}
		start := time.Now()
		if err := w.send(key); err != nil {
			b.Fatal(err)
		}
		if _, err := waitFor(w, echo); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}

// BenchmarkKeystrokeEcho: one key in, its echo out, over a loopback websocket.
func BenchmarkKeystrokeEcho(b *testing.B) {
	b.Run("kubelab/pty-cat", func(b *testing.B) {
		h := newHarness(b, terminal.Options{}, func() (terminal.Process, error) { return startPTY(b, "/bin/cat") })
		w := dialKubelab(b, wsURL(h, "k"))
		defer w.close()
		keystrokes(b, w)
	})
	b.Run("kubelab/jail-bash", func(b *testing.B) {
		h := newHarness(b, terminal.Options{}, jailedShell(b, fakeAPI(b)))
		w := dialKubelab(b, wsURL(h, "k"))
		defer w.close()
		waitFor(w, []byte("$ "))
		keystrokes(b, w)
	})
	if *gottyBin != "" {
		b.Run("gotty/pty-cat", func(b *testing.B) {
			w := dialGotty(b, startGotty(b, "/bin/cat"))
			defer w.close()
			keystrokes(b, w)
		})
	}
}

func wsURL(h *harness, key string) string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/term?key=" + key
}

// bigFile is a 100 MB text file of 80-column lines.
func bigFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.txt")
	line := strings.Repeat("kubelab ", 9) + "0123456\n"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	block := []byte(strings.Repeat(line, 1<<14))
	for written := 0; written < 100_000_000; written += len(block) {
		f.Write(block)
	}
	f.Close()
	return path
}

// catFile times `cat path` through w: per op the whole file.
func catFile(b *testing.B, w wire, path string, raw bool) {
	b.Helper()
	fi, _ := os.Stat(path)
	setup := "stty -echo\n"
	if raw {
		setup = "stty raw -echo\n"
	}
	w.send([]byte(setup + "echo READY-''-MARK\n"))
	waitFor(w, []byte("READY--MARK"))
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for range b.N {
		w.send([]byte("cat " + path + "; echo END-''-MARK\n"))
		if _, err := waitFor(w, []byte("END--MARK")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatThroughput: `cat` of a 100 MB file to the client (MB/s).
// "cooked" goes through the PTY's output processing (\n → \r\n) like a
// learner's terminal; "raw" measures the bridge without it.
func BenchmarkCatThroughput(b *testing.B) {
	path := bigFile(b)
	for _, raw := range []bool{false, true} {
		mode := map[bool]string{false: "cooked", true: "raw"}[raw]
		b.Run("kubelab/"+mode, func(b *testing.B) {
			h := newHarness(b, terminal.Options{}, func() (terminal.Process, error) {
				return startPTY(b, "/bin/bash", "--norc", "--noprofile", "-i")
			})
			w := dialKubelab(b, wsURL(h, "k"))
			defer w.close()
			catFile(b, w, path, raw)
		})
		if *gottyBin != "" {
			b.Run("gotty/"+mode, func(b *testing.B) {
				w := dialGotty(b, startGotty(b, "/bin/bash", "--norc", "--noprofile", "-i"))
				defer w.close()
				catFile(b, w, path, raw)
			})
		}
	}
}

// BenchmarkIdleTerminals opens 50 jailed shells, each with a connected,
// idle client, and reports what one costs: Go heap and goroutines in the
// server, and RSS of the jail's processes (bwrap, forwarder, bash).
func BenchmarkIdleTerminals(b *testing.B) {
	const n = 50
	for range b.N {
		h := newHarness(b, terminal.Options{}, jailedShell(b, fakeAPI(b)))
		runtime.GC()
		heap0, gr0 := heapInUse(), runtime.NumGoroutine()
		jail0 := jailRSS(b)
		var ws []*kubelabWire
		for i := range n {
			w := dialKubelab(b, wsURL(h, fmt.Sprint(i)))
			waitFor(w, []byte("$ "))
			ws = append(ws, w)
		}
		time.Sleep(time.Second)
		runtime.GC()
		b.ReportMetric(float64(int64(heapInUse())-int64(heap0))/n/1024, "heap-KiB/term")
		b.ReportMetric(float64(runtime.NumGoroutine()-gr0)/n, "goroutines/term")
		b.ReportMetric(float64(jailRSS(b)-jail0)/n/1024, "jail-RSS-KiB/term")
		for _, w := range ws {
			w.close()
		}
	}
}

// jailRSS sums the RSS of every process in a nested pid namespace plus
// every bwrap outside: what the jails cost the host.
func jailRSS(tb testing.TB) int64 {
	tb.Helper()
	entries, _ := os.ReadDir("/proc")
	var total int64
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		s := string(b)
		nested := false
		var rss int64
		for _, line := range strings.Split(s, "\n") {
			switch {
			case strings.HasPrefix(line, "NSpid:") && len(strings.Fields(line)) > 2:
				nested = true
			case strings.HasPrefix(line, "Name:\tbwrap"):
				nested = true
			case strings.HasPrefix(line, "VmRSS:"):
				fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &rss)
			}
		}
		if nested {
			total += rss << 10
		}
	}
	return total
}

// BenchmarkConcurrentTerminals runs 100 jailed shells at once: every
// client types keys concurrently (latency under load), then every shell
// prints 4 MB at once (aggregate throughput).
func BenchmarkConcurrentTerminals(b *testing.B) {
	const n = 100
	h := newHarness(b, terminal.Options{}, jailedShell(b, fakeAPI(b)))
	ws := make([]*kubelabWire, n)
	for i := range n {
		ws[i] = dialKubelab(b, wsURL(h, fmt.Sprint(i)))
		waitFor(ws[i], []byte("$ "))
		defer ws[i].close()
	}
	b.ResetTimer()
	for range b.N {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		start := time.Now()
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for i := range 50 {
					key, echo := []byte("a"), []byte("a")
					if i%2 == 1 {
						key, echo = []byte{0x7f}, []byte("\b")
					}
					t0 := time.Now()
					w.send(key)
					waitFor(w, echo)
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		keysPerSec := float64(len(lat)) / time.Since(start).Seconds()

		start = time.Now()
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.send([]byte("stty raw -echo; head -c 4000000 /dev/zero | tr '\\0' x; echo; echo DONE-''-MARK; stty sane\n"))
				waitFor(w, []byte("DONE--MARK"))
			}()
		}
		wg.Wait()
		mbps := float64(n*4_000_000) / 1e6 / time.Since(start).Seconds()

		reportLatency(b, lat)
		b.ReportMetric(keysPerSec, "keys/s")
		b.ReportMetric(mbps, "aggregate-MB/s")
	}
}
