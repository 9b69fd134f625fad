package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubelab/kubelab/internal/sysdeps"
	"github.com/kubelab/kubelab/sandbox/podshell"
)

// envFlags is a flag.FlagSet whose defaults come from KUBELAB_* variables.
type envFlags struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []string
}

func newEnvFlags(name string, getenv func(string) string) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &envFlags{FlagSet: fs, getenv: getenv}
}

func envName(flagName string) string {
	return "KUBELAB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// env returns the variable for a flag and the usage suffix naming it.
func (f *envFlags) env(name string) (string, string) {
	return f.getenv(envName(name)), " (env " + envName(name) + ")"
}

func (f *envFlags) str(p *string, name, def, usage string) {
	v, note := f.env(name)
	if v != "" {
		def = v
	}
	f.StringVar(p, name, def, usage+note)
}

func (f *envFlags) boolean(p *bool, name string, def bool, usage string) {
	v, note := f.env(name)
	if v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: want true or false", envName(name), v))
		}
		def = b
	}
	f.BoolVar(p, name, def, usage+note)
}

func (f *envFlags) integer(p *int, name string, def int, usage string) {
	v, note := f.env(name)
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: want a whole number", envName(name), v))
		}
		def = n
	}
	f.IntVar(p, name, def, usage+note)
}

func (f *envFlags) duration(p *time.Duration, name string, def time.Duration, usage string) {
	v, note := f.env(name)
	if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: want a duration such as 90m", envName(name), v))
		}
		def = d
	}
	f.DurationVar(p, name, def, usage+note)
}

// parse parses args and reports bad environment values and flags together.
func (f *envFlags) parse(args []string, stdout io.Writer) error {
	if err := f.Parse(args); err != nil {
		if err == flag.ErrHelp {
			f.SetOutput(stdout)
			fmt.Fprintf(stdout, "Flags of kubelab %s:\n", f.Name())
			f.PrintDefaults()
			return err
		}
		return fmt.Errorf("%s: %w (see kubelab %s --help)", f.Name(), err, f.Name())
	}
	if len(f.errs) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(f.errs, "; "))
	}
	return nil
}

func defaultDataDir(getenv func(string) string) string {
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "kubelab")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "kubelab")
	}
	return "kubelab-data"
}

// commonConfig is what every subcommand that touches the database needs.
type commonConfig struct {
	DataDir     string
	DatabaseURL string
	LogFormat   string
	LogLevel    string
}

func (c *commonConfig) register(f *envFlags) {
	f.str(&c.DataDir, "data-dir", defaultDataDir(f.getenv), "directory for kubelab's state: the private PostgreSQL, the simulated cluster, terminals")
	f.str(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty starts a private PostgreSQL under <data-dir>/postgres")
	f.str(&c.LogFormat, "log-format", "text", "log format: text or json")
	f.str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

func (c *commonConfig) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
}

// serveConfig is the whole configuration of `kubelab serve`.
type serveConfig struct {
	commonConfig
	Addr           string
	PublicURL      string
	AllowedHosts   string
	Dev            bool
	AdminEmail     string
	Kubeconfig     string
	Sandbox        string
	Shell          string
	WorkspaceImage string
	KindImage      string
	Nodes          int
	PoolSize       int
	MaxSandboxes   int
	MaxPerUser     int
	MaxGuests      int
	EntryBurst     int
	EntryBurstIP   int
	SessionTTL     time.Duration
	MaxSessionTTL  time.Duration
	IdleTimeout    time.Duration
	LabsDir        string
	FrameAncestors string
	TrustedProxies string
	BuildTools     bool
	// AdminPassword comes only from KUBELAB_ADMIN_PASSWORD: a flag would show in ps.
	AdminPassword string
}

func serveFlags(getenv func(string) string) (*envFlags, *serveConfig) {
	c := &serveConfig{}
	f := newEnvFlags("serve", getenv)
	c.commonConfig.register(f)
	f.str(&c.Addr, "addr", ":8080", "address to listen on")
	f.str(&c.PublicURL, "public-url", "", "URL browsers use to reach kubelab (sets Secure cookies for https and the allowed Origin); empty: the request's host")
	f.str(&c.AllowedHosts, "allowed-hosts", defaultAllowedHosts(), "comma-separated host names kubelab answers to when --public-url is empty, besides localhost and IP addresses (default: this machine's name)")
	f.boolean(&c.Dev, "dev", false, "development mode: serve frontend files and lessons from disk, re-read on every request")
	f.str(&c.AdminEmail, "admin-email", "admin@localhost", "email of the admin account created on first start (password from KUBELAB_ADMIN_PASSWORD, or generated and printed once)")
	f.str(&c.Kubeconfig, "kubeconfig", "", "use this cluster for sandboxes instead of the embedded simulated cluster")
	f.str(&c.Sandbox, "sandbox", "namespaced", "sandbox backend: namespaced (a namespace per learner) or kind (a kind cluster per learner; needs Docker)")
	f.str(&c.Shell, "shell", "local", "terminal backend: local (a jailed shell on this host; needs bubblewrap) or pod (exec into a workspace pod; real clusters only)")
	f.str(&c.WorkspaceImage, "workspace-image", podshell.DefaultImage, "image of the workspace pod for --shell=pod")
	f.str(&c.KindImage, "kind-image", "", "node image of --sandbox=kind clusters (scripts/kind-up builds one offline); empty: kind's default")
	f.integer(&c.Nodes, "nodes", 3, "simulated nodes in the embedded cluster")
	f.integer(&c.PoolSize, "pool-size", 2, "warm sandboxes kept ready per size class, and per namespace chapter with a setup (run ahead)")
	f.integer(&c.MaxSandboxes, "max-sandboxes", 200, "sandboxes alive at once; further learners queue")
	f.integer(&c.MaxPerUser, "max-per-user", 3, "sandboxes one learner may hold at once")
	f.integer(&c.MaxGuests, "max-guest-sandboxes", 0, "sandboxes guests may hold (live and queued) all together; the rest is kept for registered learners; 0: half of --max-sandboxes")
	// A load test or a class arriving at once from one address (a NAT)
	// needs more than the defaults, which bound a flood of accounts.
	f.integer(&c.EntryBurst, "entry-burst", 120, "accounts (sign-ups and guests) that may be made at once, from all addresses together; then one more every 200ms")
	f.integer(&c.EntryBurstIP, "entry-burst-per-ip", 40, "accounts (sign-ups and guests) that may be made at once from one address; then one more every 2s")
	f.duration(&c.SessionTTL, "session-ttl", time.Hour, "lifetime of a sandbox")
	f.duration(&c.MaxSessionTTL, "max-session-ttl", 4*time.Hour, "how far extending may push a sandbox's lifetime")
	f.duration(&c.IdleTimeout, "idle-timeout", 30*time.Minute, "a sandbox nobody touched for this long is ended")
	f.str(&c.LabsDir, "labs-dir", "", "load chapters from this directory instead of the bundled ones")
	f.str(&c.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client; empty: the TCP peer is the client")
	f.str(&c.FrameAncestors, "frame-ancestors", "'none'", "CSP frame-ancestors: who may embed kubelab in a frame, e.g. https://course.example.com")
	f.boolean(&c.BuildTools, "build-tools", true, "as root, build the learners' tools that no Debian package has (k9s) with go install into /usr/local/bin, in the background at the lowest priority, when they are missing")
	c.AdminPassword = getenv("KUBELAB_ADMIN_PASSWORD")
	return f, c
}

// defaultAllowedHosts is this machine's own name: a learner on the LAN may
// open http://NAME:8080, and a rebinding attacker cannot own that name.
func defaultAllowedHosts() string {
	name, _ := os.Hostname()
	return name
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// redactURL hides the password of a database URL.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable, hidden)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// logValue is the effective configuration for the log, secrets redacted.
func (c *serveConfig) logValue() slog.Value {
	pw := ""
	if c.AdminPassword != "" {
		pw = "REDACTED"
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr), slog.String("data_dir", c.DataDir),
		slog.String("database_url", redactURL(c.DatabaseURL)), slog.String("public_url", c.PublicURL),
		slog.String("allowed_hosts", c.AllowedHosts),
		slog.Bool("dev", c.Dev), slog.String("log_format", c.LogFormat), slog.String("log_level", c.LogLevel),
		slog.String("admin_email", c.AdminEmail), slog.String("admin_password", pw),
		slog.String("kubeconfig", c.Kubeconfig), slog.String("sandbox", c.Sandbox), slog.String("shell", c.Shell),
		slog.Int("nodes", c.Nodes), slog.Int("pool_size", c.PoolSize),
		slog.Int("max_sandboxes", c.MaxSandboxes), slog.Int("max_per_user", c.MaxPerUser),
		slog.Int("max_guest_sandboxes", c.MaxGuests),
		slog.Int("entry_burst", c.EntryBurst), slog.Int("entry_burst_per_ip", c.EntryBurstIP),
		slog.Duration("session_ttl", c.SessionTTL), slog.Duration("max_session_ttl", c.MaxSessionTTL),
		slog.Duration("idle_timeout", c.IdleTimeout), slog.String("labs_dir", c.LabsDir),
		slog.String("frame_ancestors", c.FrameAncestors), slog.String("trusted_proxies", c.TrustedProxies),
	)
}

func (c *serveConfig) validate() error {
	var errs []string
	if c.Sandbox != "namespaced" && c.Sandbox != "kind" {
		errs = append(errs, fmt.Sprintf("--sandbox %q: want namespaced or kind", c.Sandbox))
	}
	if c.Shell != "local" && c.Shell != "pod" {
		errs = append(errs, fmt.Sprintf("--shell %q: want local or pod", c.Shell))
	}
	switch {
	case c.Sandbox == "kind" && c.Kubeconfig != "":
		errs = append(errs, "--sandbox=kind makes a cluster per learner: it takes no --kubeconfig")
	case c.Shell == "pod" && c.Sandbox == "kind":
		errs = append(errs, "--shell=pod runs with --sandbox=namespaced and --kubeconfig; kind sandboxes use --shell=local")
	case c.Shell == "pod" && c.Kubeconfig == "":
		errs = append(errs, "--shell=pod needs a cluster whose pods really run: pass --kubeconfig (the simulated cluster only pretends to run them)")
	}
	if _, err := parseNets(c.TrustedProxies); err != nil {
		errs = append(errs, "--trusted-proxies: "+err.Error())
	}
	if c.Nodes < 1 || c.PoolSize < 0 || c.MaxSandboxes < 1 || c.MaxPerUser < 1 || c.MaxGuests < 0 {
		errs = append(errs, "--nodes, --max-sandboxes and --max-per-user must be at least 1, --pool-size and --max-guest-sandboxes at least 0")
	}
	if c.EntryBurst < 1 || c.EntryBurstIP < 1 {
		errs = append(errs, "--entry-burst and --entry-burst-per-ip must be at least 1")
	}
	if c.SessionTTL <= 0 || c.MaxSessionTTL < c.SessionTTL {
		errs = append(errs, "--session-ttl must be positive and at most --max-session-ttl")
	}
	if len(errs) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// parseNets reads a comma-separated list of IP addresses and CIDRs.
func parseNets(list string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, item := range splitList(list) {
		if !strings.Contains(item, "/") {
			ip := net.ParseIP(item)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", item)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", item)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// systemNeeds is what this configuration runs from the host: PostgreSQL's
// server without --database-url, bubblewrap and the learners' toolbox for
// local shells.
func (c *serveConfig) systemNeeds() []sysdeps.Need {
	var needs []sysdeps.Need
	for _, n := range sysdeps.Defaults {
		switch {
		case n.Package == "postgresql" && c.DatabaseURL != "":
		case n.Package != "postgresql" && c.Shell != "local":
		default:
			needs = append(needs, n)
		}
	}
	return needs
}
