package simcluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPodCIDR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		starts int
		want   string
	}{
		{0, "10.128.0.0/18"},
		{1, "10.128.64.0/18"},
		{4, "10.129.0.0/18"},
		{511, "10.255.192.0/18"},
		{512, "10.128.0.0/18"},
	}
	for _, tc := range tests {
		if d := cmp.Diff(tc.want, state{Starts: tc.starts}.podCIDR()); d != "" {
			t.Errorf("starts %d: pod CIDR (-want +got):\n%s", tc.starts, d)
		}
	}
}

func TestLoadStateKeepsPorts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(first.APIServerPort, second.APIServerPort); d != "" {
		t.Errorf("api server port across restarts (-want +got):\n%s", d)
	}
	if second.Starts != first.Starts+1 {
		t.Errorf("starts = %d then %d, want an increment", first.Starts, second.Starts)
	}
}
