// Command soak holds a kubelab under a class of simulated learners for a
// stretch of time and reports what they met: errors by kind, latency
// percentiles (start → ready, keystroke → echo, change → green) and
// kubelab's RSS and goroutines over time. scripts/soak builds and runs it.
//
// Each learner starts a chapter's lab through the HTTP API as the page
// does (sign-up or guest, POST session, the session's event stream, the
// tasks); the typing ones type the chapter's reference solutions into the
// real terminal websocket at a person's pace, watch the tasks go green,
// press Check, Reset and End, and go on to the next chapter. Meanwhile wrk
// loads pages in bursts. Without --url the soak starts its own kubelab on
// loopback with a fresh data dir and removes it afterwards; it never loads
// anything but this machine's loopback. The last line is "errors: N", and
// the exit status is non-zero unless N is 0.
//
// With --event the class is a workshop's: kubelab's admin makes an event
// with the soak's chapters, every learner joins it with its join code, and
// an instructor follows its live grid (workshop.go). The report adds
// change → grid cell, from the Enter that completed a task to the
// learner's cell showing passed on that grid, and the grid is checked
// against every learner's own tasks before the labs end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/kubelab/kubelab/labs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Fprintln(stderr, "soak: wrk is not installed; it loads the pages (apt-get install wrk)")
		return 2
	}
	chapters, err := chaptersFor(o.Chapters)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}
	// An event is made by kubelab's admin: the soak's own kubelab gets a
	// password of the soak's; a running one's is in the environment.
	adminPassword := os.Getenv("KUBELAB_ADMIN_PASSWORD")
	if o.Event && o.URL != "" && adminPassword == "" {
		fmt.Fprintln(stderr, "soak: --event with --url: set KUBELAB_ADMIN_PASSWORD to the password of that kubelab's admin ("+adminEmail+")")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r := newRecorder(stderr)
	base, pid, dataDir := o.URL, o.PID, o.DataDir
	var own *ownKubelab
	if base == "" {
		fmt.Fprintf(stdout, "starting kubelab (%s) on loopback with a fresh data dir…\n", o.Kubelab)
		if own, err = startKubelab(ctx, o.Kubelab, o); err != nil {
			fmt.Fprintln(stderr, "soak:", err)
			return 2
		}
		base, pid, dataDir = own.url, own.pid(), own.dataDir()
		adminPassword = own.admin
	}
	pr, err := newProbe(base, pid, dataDir)
	if err != nil {
		r.fail("probe", "%v", err)
		pr = &probe{url: base, pid: pid}
	}
	fmt.Fprintf(stdout, "soak: %d learners (%d typing) on %s for %s after a %s ramp; chapters: %s\n",
		o.Learners, o.Terminals, base, o.Duration, o.Ramp, chapterIDs(chapters))

	end := load(ctx, o, base, pr, chapters, r, stdout, adminPassword)
	if own != nil {
		fmt.Fprintln(stdout, "stopping kubelab…")
		left, logPath := own.stop(r.errorTotal() > 0)
		for _, l := range left {
			r.fail("left behind", "%s", l)
		}
		if logPath != "" {
			fmt.Fprintf(stdout, "kubelab's log (kept for the errors): %s\n", logPath)
		}
	}
	report(stdout, o, r, end)
	n := r.errorTotal()
	fmt.Fprintf(stdout, "errors: %d\n", n)
	if n > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// load runs the learners, the page bursts and the sampler until the ramp
// and the duration are over and every learner has ended their lab. With
// --event it first makes the event (as the admin, with adminPassword),
// and checks its grid when the time is up, before the labs end. It
// returns when the full load ended, measured from its start.
func load(ctx context.Context, o options, base string, pr *probe, chapters []*labs.Chapter, r *recorder, out io.Writer, adminPassword string) time.Duration {
	tr := &http.Transport{MaxIdleConnsPerHost: o.Learners + 100, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	p := &plan{o: o, base: base, tr: tr, r: r, run: randomHex(4), chapters: chapters}
	if o.Event {
		ws, err := openWorkshop(ctx, p, adminPassword)
		if err != nil {
			r.fail("event", "%v", err)
			return 0
		}
		defer ws.close()
		p.ws = ws
		fmt.Fprintf(out, "event %s (join code %s, %d seats): an instructor follows its grid\n", ws.id, ws.code, o.Learners)
	}
	start := time.Now()
	lctx, cancel := context.WithDeadline(ctx, start.Add(o.Ramp+o.Duration))
	defer cancel()

	var wg sync.WaitGroup
	wg.Go(func() { sampleLoop(lctx, o, pr, r, start, out) })
	wg.Go(func() { pageLoop(lctx, o, p) })
	for i := range o.Learners {
		wg.Go(func() {
			// Arrivals spread evenly over the ramp.
			if o.Learners > 1 {
				select {
				case <-lctx.Done():
					return
				case <-time.After(o.Ramp * time.Duration(i) / time.Duration(o.Learners)):
				}
			}
			p.learner(i).run(lctx)
		})
	}
	<-lctx.Done()
	ended := time.Since(start)
	if p.ws != nil {
		fmt.Fprintf(out, "[%s] time is up: the learners hold their labs while the event's grid is checked…\n", ended.Round(time.Second))
		p.ws.check(ctx, out)
		fmt.Fprintf(out, "[%s] the learners end their labs…\n", time.Since(start).Round(time.Second))
	} else {
		fmt.Fprintf(out, "[%s] time is up: the learners end their labs…\n", ended.Round(time.Second))
	}
	wg.Wait()
	return ended
}

// sampleLoop reads kubelab's state every o.Sample, printing a line a minute.
func sampleLoop(ctx context.Context, o options, pr *probe, r *recorder, start time.Time, out io.Writer) {
	t := time.NewTicker(o.Sample)
	defer t.Stop()
	lastPrint := time.Duration(-time.Minute)
	for {
		s := pr.read(ctx, time.Since(start))
		if ctx.Err() != nil {
			return
		}
		r.sample(s)
		if s.At-lastPrint >= time.Minute {
			lastPrint = s.At
			fmt.Fprintf(out, "[%s] %s, errors so far: %d\n", s.At.Round(time.Second), s, r.errorTotal())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pageLoop runs wrk bursts against the catalog and a chapter page, logged
// in as a guest of its own, every o.WrkEvery.
func pageLoop(ctx context.Context, o options, p *plan) {
	c := newAPIClient(p.base, p.tr, p.r)
	if err := c.call(ctx, "POST", "/api/v1/auth/guest", "POST guest", map[string]string{}, nil, http.StatusCreated); err != nil {
		if ctx.Err() == nil {
			p.r.fail("wrk login", "the page load's guest: %v", err)
		}
		return
	}
	cookie := "Cookie: " + c.cookieHeader()
	pages := []page{
		{path: "/", series: latPageRoot, headers: []string{cookie}},
		{path: "/chapters/" + p.chapters[0].ID, series: latPageChapter, headers: []string{cookie}},
	}
	for {
		// A burst never outlasts the load.
		d := o.WrkFor
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, time.Until(dl).Truncate(time.Second))
		}
		if d >= time.Second {
			wrkBurst(ctx, p.base, pages, d, o.WrkConnections, p.r)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(o.WrkEvery - o.WrkFor):
		}
	}
}

// chaptersFor loads the bundled chapters and picks the ones to start: by
// default every chapter the simulated cluster runs as a namespace (a
// cluster of one's own is a process per learner, a different soak).
func chaptersFor(ids []string) ([]*labs.Chapter, error) {
	cat, err := labs.Load(labs.Bundled(), labs.Options{})
	if err != nil {
		return nil, fmt.Errorf("load the bundled chapters: %w", err)
	}
	var out []*labs.Chapter
	for _, ch := range cat.Chapters() {
		runtime := slices.Contains(ch.Needs, labs.NeedRuntime)
		switch {
		case len(ids) > 0 && slices.Contains(ids, ch.ID) && runtime:
			return nil, fmt.Errorf("chapter %s needs real containers; the soak runs on the simulated cluster", ch.ID)
		case len(ids) > 0 && slices.Contains(ids, ch.ID):
			out = append(out, ch)
		case len(ids) == 0 && ch.Sandbox == labs.SandboxNamespace && !runtime:
			out = append(out, ch)
		}
	}
	if len(out) == 0 || (len(ids) > 0 && len(out) != len(ids)) {
		return nil, fmt.Errorf("--chapters %v: unknown chapter among them (have %s)", ids, chapterIDs(cat.Chapters()))
	}
	return out, nil
}

func chapterIDs(chs []*labs.Chapter) string {
	var ids []string
	for _, ch := range chs {
		ids = append(ids, ch.ID)
	}
	return fmt.Sprint(ids)
}
