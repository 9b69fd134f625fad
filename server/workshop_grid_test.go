package server

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStuck(t *testing.T) {
	t.Parallel()
	m := time.Minute
	tests := []struct {
		name  string
		on    time.Duration
		group []time.Duration
		want  bool
	}{
		{name: "a fresh task", on: 30 * time.Second, want: false},
		{name: "past the limit, alone", on: 11 * m, want: true},
		{name: "slower than three in four of the group", on: 5 * m, group: []time.Duration{m, m, 2 * m, 3 * m, 8 * m}, want: true},
		{name: "within the group's three quarters", on: 3 * m, group: []time.Duration{m, 2 * m, 3 * m, 4 * m}, want: false},
		{name: "too few in the group to compare", on: 5 * m, group: []time.Duration{m, m, m}, want: false},
		{name: "under two minutes is never stuck", on: 110 * time.Second, group: []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, why := stuck(tt.on, tt.group)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stuck(%v, %v) (-want +got):\n%s (%s)", tt.on, tt.group, diff, why)
			}
			if got && why == "" {
				t.Error("stuck without a reason")
			}
		})
	}
}

func TestTypedLines(t *testing.T) {
	t.Parallel()
	var tl typedLines
	tl.write([]byte("kubectl get po\r"))
	tl.write([]byte("kubectl get podz\x7f\x7fds\r"))
	tl.write([]byte("\x1b[A\r"))           // history recall: nothing typed
	tl.write([]byte("oops\x03"))           // Ctrl+C drops the line
	tl.write([]byte("k get deploy\x1bOA")) // an arrow in SS3 form, then Enter
	tl.write([]byte("\r"))
	want := []string{"kubectl get po", "kubectl get pods", "k get deploy"}
	if diff := cmp.Diff(want, tl.last()); diff != "" {
		t.Errorf("typed lines (-want +got):\n%s", diff)
	}
	for i := range 30 {
		tl.write([]byte{'a' + byte(i%26), '\r'})
	}
	if got := len(tl.last()); got != typedKeep {
		t.Errorf("kept %d lines, want %d", got, typedKeep)
	}
}
