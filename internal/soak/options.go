package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// Bounds of one run: a soak is a measurement on one machine, never an
// open-ended load against anybody.
const (
	maxLearners  = 5000
	maxSeats     = 1000 // kubelab's bound on an event's seats
	maxDuration  = 4 * time.Hour
	minKeyPeriod = 5 * time.Millisecond
)

// options are the soak's flags.
type options struct {
	Learners  int
	Terminals int
	Duration  time.Duration
	Ramp      time.Duration
	URL       string // empty: start our own kubelab
	// Event makes the learners an event's: the admin makes it, each
	// learner joins it, an instructor follows its live grid.
	Event bool

	Kubelab  string // the kubelab binary to start when URL is empty
	DataDir  string // with URL: that kubelab's data dir, for its goroutines
	PID      int    // with URL: that kubelab's process id, for its RSS
	PoolSize int    // our own kubelab's --pool-size

	Chapters    []string      // chapter ids to start; empty: every one the simulated cluster runs as namespaces
	TasksPerLab int           // tasks a typing learner solves before Check, Reset and End
	KeyEvery    time.Duration // mean time between keystrokes (each varies ±50%)
	Think       time.Duration // pause after each command's prompt
	PageEvery   time.Duration // how often a learner who does not type interacts with the page

	WrkEvery       time.Duration // wrk runs a burst this often
	WrkFor         time.Duration // for this long
	WrkConnections int

	Sample    time.Duration // how often kubelab's RSS and goroutines are read
	Window    time.Duration // the final stretch that must be flat; 0: min(5m, duration/2)
	MaxGrowth float64       // allowed growth over Window, as a fraction of its mean
}

func parseOptions(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: scripts/soak --learners N --terminals M --duration D [--url http://127.0.0.1:PORT] [flags]\n\n")
		fs.PrintDefaults()
	}
	var chapters string
	fs.IntVar(&o.Learners, "learners", 20, "simulated learners, each holding one sandbox")
	fs.IntVar(&o.Terminals, "terminals", 5, "how many of them type solutions into a terminal")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "how long the full load runs, after the ramp")
	fs.DurationVar(&o.Ramp, "ramp", 30*time.Second, "learners arrive evenly over this time")
	fs.BoolVar(&o.Event, "event", false, "workshop mode: every learner joins an event the admin made; an instructor follows its live grid (with --url: KUBELAB_ADMIN_PASSWORD is the admin's password)")
	fs.StringVar(&o.URL, "url", "", "a running kubelab on this machine (loopback only); empty: start one")
	fs.StringVar(&o.Kubelab, "kubelab", "", "kubelab binary to start when --url is empty (scripts/soak builds it)")
	fs.StringVar(&o.DataDir, "data-dir", "", "with --url: its data dir, to read its goroutines from the simulated cluster's metrics")
	fs.IntVar(&o.PID, "pid", 0, "with --url: its process id, to read its RSS")
	fs.IntVar(&o.PoolSize, "pool-size", 2, "--pool-size of the kubelab the soak starts")
	fs.StringVar(&chapters, "chapters", "", "comma-separated chapter ids; empty: every namespace chapter of the simulated cluster")
	fs.IntVar(&o.TasksPerLab, "tasks", 2, "tasks a typing learner solves in a lab before Check, Reset and End")
	fs.DurationVar(&o.KeyEvery, "key-every", 60*time.Millisecond, "mean time between keystrokes")
	fs.DurationVar(&o.Think, "think", time.Second, "pause after each command")
	fs.DurationVar(&o.PageEvery, "page-every", 30*time.Second, "how often a reading learner interacts with the page")
	fs.DurationVar(&o.WrkEvery, "wrk-every", time.Minute, "wrk loads the pages in a burst this often")
	fs.DurationVar(&o.WrkFor, "wrk-for", 5*time.Second, "length of each wrk burst")
	fs.IntVar(&o.WrkConnections, "wrk-connections", 4, "wrk connections per page")
	fs.DurationVar(&o.Sample, "sample", 5*time.Second, "how often kubelab's RSS and goroutines are read")
	fs.DurationVar(&o.Window, "window", 0, "the final stretch whose RSS and goroutines must be flat; 0: min(5m, duration/2)")
	fs.Float64Var(&o.MaxGrowth, "max-growth", 0.10, "growth allowed over the window, as a fraction")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, c := range strings.Split(chapters, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.Chapters = append(o.Chapters, c)
		}
	}
	if o.Window == 0 {
		o.Window = min(5*time.Minute, o.Duration/2)
	}
	return o, o.validate()
}

func (o options) validate() error {
	var errs []error
	switch {
	case o.Learners < 1 || o.Learners > maxLearners:
		errs = append(errs, fmt.Errorf("--learners %d: want 1 to %d", o.Learners, maxLearners))
	case o.Terminals < 0 || o.Terminals > o.Learners:
		errs = append(errs, fmt.Errorf("--terminals %d: want 0 to --learners (%d)", o.Terminals, o.Learners))
	case o.Event && o.Learners > maxSeats:
		errs = append(errs, fmt.Errorf("--learners %d with --event: an event has at most %d seats", o.Learners, maxSeats))
	}
	if o.Duration <= 0 || o.Duration > maxDuration {
		errs = append(errs, fmt.Errorf("--duration %s: want more than 0 and at most %s", o.Duration, maxDuration))
	}
	if o.Ramp < 0 || o.Ramp > maxDuration {
		errs = append(errs, fmt.Errorf("--ramp %s: want 0 to %s", o.Ramp, maxDuration))
	}
	if o.URL != "" {
		if err := loopbackURL(o.URL); err != nil {
			errs = append(errs, fmt.Errorf("--url: %w", err))
		}
	} else if o.Kubelab == "" {
		errs = append(errs, errors.New("--kubelab: the binary to start is required without --url (scripts/soak builds it)"))
	}
	if o.TasksPerLab < 1 {
		errs = append(errs, errors.New("--tasks: want at least 1"))
	}
	if o.KeyEvery < minKeyPeriod {
		errs = append(errs, fmt.Errorf("--key-every %s: want at least %s (a person types)", o.KeyEvery, minKeyPeriod))
	}
	if o.PageEvery <= 0 || o.Sample <= 0 || o.WrkFor <= 0 || o.WrkEvery < o.WrkFor || o.WrkConnections < 1 {
		errs = append(errs, errors.New("--page-every, --sample and --wrk-for must be positive, --wrk-every at least --wrk-for, --wrk-connections at least 1"))
	}
	if o.Window <= 0 || o.Window > o.Duration || o.MaxGrowth <= 0 {
		errs = append(errs, errors.New("--window must be within --duration and --max-growth positive"))
	}
	return errors.Join(errs...)
}

// loopbackURL accepts only an http URL of this machine's loopback: the
// soak is a load generator, and must not be aimed at anybody else.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "http" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("%q: want http://HOST:PORT with no path", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: the soak only loads this machine's loopback (localhost, 127.0.0.0/8, ::1)", raw)
}
