package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    func(o *options)
		wantErr string
	}{
		{name: "defaults start our own kubelab", args: []string{"--kubelab", "/k"}, want: func(o *options) {}},
		{name: "the big soak", args: []string{"--kubelab", "/k", "--learners", "500", "--terminals", "100", "--duration", "10m", "--ramp", "2m"},
			want: func(o *options) {
				o.Learners, o.Terminals, o.Duration, o.Ramp, o.Window = 500, 100, 10*time.Minute, 2*time.Minute, 5*time.Minute
			}},
		{name: "a running kubelab", args: []string{"--url", "http://127.0.0.1:8080", "--chapters", "pods, labels"},
			want: func(o *options) {
				o.Kubelab, o.URL, o.Chapters = "", "http://127.0.0.1:8080", []string{"pods", "labels"}
			}},
		{name: "localhost and ipv6 loopback", args: []string{"--url", "http://[::1]:8080/"},
			want: func(o *options) { o.Kubelab, o.URL = "", "http://[::1]:8080/" }},
		{name: "an event", args: []string{"--kubelab", "/k", "--event", "--learners", "100", "--terminals", "50"},
			want: func(o *options) { o.Event, o.Learners, o.Terminals = true, 100, 50 }},
		{name: "an event bigger than its seats", args: []string{"--kubelab", "/k", "--event", "--learners", "1001"}, wantErr: "at most 1000 seats"},
		{name: "another machine", args: []string{"--url", "http://192.0.2.10:8080"}, wantErr: "loopback"},
		{name: "a name that could be anywhere", args: []string{"--url", "http://kubelab.example.com"}, wantErr: "loopback"},
		{name: "https", args: []string{"--url", "https://127.0.0.1:8443"}, wantErr: "want http://HOST:PORT"},
		{name: "a path", args: []string{"--url", "http://127.0.0.1:8080/api"}, wantErr: "want http://HOST:PORT"},
		{name: "no binary and no url", args: nil, wantErr: "--kubelab: the binary to start is required"},
		{name: "more typists than learners", args: []string{"--kubelab", "/k", "--learners", "3", "--terminals", "4"}, wantErr: "--terminals 4"},
		{name: "too many learners", args: []string{"--kubelab", "/k", "--learners", "5001"}, wantErr: "--learners 5001"},
		{name: "too long", args: []string{"--kubelab", "/k", "--duration", "5h"}, wantErr: "--duration 5h0m0s"},
		{name: "inhuman typing", args: []string{"--kubelab", "/k", "--key-every", "1ms"}, wantErr: "a person types"},
		{name: "a stray argument", args: []string{"--kubelab", "/k", "pods"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseOptions(%q) error = %v, want one saying %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := parseOptions([]string{"--kubelab", "/k"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
