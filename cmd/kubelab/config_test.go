package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestServeConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    func(c *serveConfig)
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"XDG_DATA_HOME": "/x"}, want: func(c *serveConfig) {}},
		{name: "env sets defaults", env: map[string]string{"XDG_DATA_HOME": "/x", "KUBELAB_ADDR": ":9000", "KUBELAB_DEV": "true", "KUBELAB_SESSION_TTL": "2h"},
			want: func(c *serveConfig) { c.Addr, c.Dev, c.SessionTTL = ":9000", true, 2*time.Hour }},
		{name: "flags beat env", env: map[string]string{"XDG_DATA_HOME": "/x", "KUBELAB_ADDR": ":9000"}, args: []string{"--addr", ":7000"},
			want: func(c *serveConfig) { c.Addr = ":7000" }},
		{name: "bad env", env: map[string]string{"KUBELAB_DEV": "maybe", "KUBELAB_NODES": "three"},
			wantErr: `bad environment: KUBELAB_DEV="maybe": want true or false; KUBELAB_NODES="three": want a whole number`},
		{name: "entry bursts", env: map[string]string{"XDG_DATA_HOME": "/x", "KUBELAB_ENTRY_BURST": "1000"}, args: []string{"--entry-burst-per-ip", "600"},
			want: func(c *serveConfig) { c.EntryBurst, c.EntryBurstIP = 1000, 600 }},
		{name: "unknown flag", args: []string{"--colour"}, wantErr: "serve: flag provided but not defined: -colour (see kubelab serve --help)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, got := serveFlags(envOf(tt.env))
			err := f.parse(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parse error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, want := serveFlags(envOf(map[string]string{"XDG_DATA_HOME": "/x"}))
			want.DataDir = "/x/kubelab"
			tt.want(want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(serveConfig{})); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHelpNamesEveryFlag(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(t.Context(), []string{"serve", "--help"}, envOf(nil), &out, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	f, _ := serveFlags(envOf(nil))
	f.VisitAll(func(fl *flag.Flag) {
		if !strings.Contains(out.String(), "-"+fl.Name) || !strings.Contains(out.String(), envName(fl.Name)) {
			t.Errorf("--help does not explain --%s and %s", fl.Name, envName(fl.Name))
		}
	})
}

func TestConfigLogRedactsSecrets(t *testing.T) {
	t.Parallel()
	_, c := serveFlags(envOf(map[string]string{
		"KUBELAB_DATABASE_URL":   "postgres://kubelab:hunter2@db:5432/kubelab?sslmode=disable",
		"KUBELAB_ADMIN_PASSWORD": "s3cret-admin",
	}))
	logged := c.logValue().String()
	for _, secret := range []string{"hunter2", "s3cret-admin"} {
		if strings.Contains(logged, secret) {
			t.Errorf("logged configuration contains secret %q: %s", secret, logged)
		}
	}
	if !strings.Contains(logged, "REDACTED") {
		t.Errorf("logged configuration does not mark redaction: %s", logged)
	}
}

func TestServeConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" means valid
	}{
		{name: "defaults"},
		{name: "a real cluster", args: []string{"--kubeconfig", "/k"}},
		{name: "pod shells on a real cluster", args: []string{"--kubeconfig", "/k", "--shell", "pod"}},
		{name: "kind", args: []string{"--sandbox", "kind"}},
		{name: "unknown sandbox", args: []string{"--sandbox", "vm"}, wantErr: `configuration: --sandbox "vm": want namespaced or kind`},
		{name: "unknown shell", args: []string{"--shell", "ssh"}, wantErr: `configuration: --shell "ssh": want local or pod`},
		{name: "kind with a kubeconfig", args: []string{"--sandbox", "kind", "--kubeconfig", "/k"},
			wantErr: "configuration: --sandbox=kind makes a cluster per learner: it takes no --kubeconfig"},
		{name: "pod shells in kind", args: []string{"--sandbox", "kind", "--shell", "pod"},
			wantErr: "configuration: --shell=pod runs with --sandbox=namespaced and --kubeconfig; kind sandboxes use --shell=local"},
		{name: "pod shells on the simulated cluster", args: []string{"--shell", "pod"},
			wantErr: "configuration: --shell=pod needs a cluster whose pods really run: pass --kubeconfig (the simulated cluster only pretends to run them)"},
		{name: "trusted proxies", args: []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1,::1"}},
		{name: "a bad trusted proxy", args: []string{"--trusted-proxies", "10.0.0.0/8,proxy.example"},
			wantErr: `configuration: --trusted-proxies: "proxy.example" is not an IP address or CIDR`},
		{name: "no entry at all", args: []string{"--entry-burst-per-ip", "0"},
			wantErr: "configuration: --entry-burst and --entry-burst-per-ip must be at least 1"},
		{name: "session ttl beyond the max", args: []string{"--session-ttl", "5h"},
			wantErr: "configuration: --session-ttl must be positive and at most --max-session-ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := serveFlags(envOf(map[string]string{"XDG_DATA_HOME": "/x"}))
			if err := f.parse(tt.args, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			err := c.validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestPoolSizesCoverEverySizeClassInUse(t *testing.T) {
	t.Parallel()
	cat, _, err := loadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, ch := range cat.Chapters() {
		class := ch.Size
		if ch.Sandbox == labs.SandboxCluster {
			class = sandbox.ClusterClass
		}
		want[class] = 3
	}
	if len(want) < 2 {
		t.Fatalf("the bundled catalog uses size classes %v; want namespace chapters and cluster chapters", want)
	}
	if diff := cmp.Diff(want, poolSizes(cat, 3, false)); diff != "" {
		t.Errorf("pool sizes (-want +got):\n%s", diff)
	}
	// On kind every sandbox is a cluster: one pool.
	if diff := cmp.Diff(map[string]int{sandbox.ClusterClass: 3}, poolSizes(cat, 3, true)); diff != "" {
		t.Errorf("pool sizes on kind (-want +got):\n%s", diff)
	}
}

func TestParseNets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: " 192.0.2.1 , 2001:db8::/32,::1", want: []string{"192.0.2.1/32", "2001:db8::/32", "::1/128"}},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "localhost", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			nets, err := parseNets(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseNets(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			var got []string
			for _, n := range nets {
				got = append(got, n.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseNets(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
