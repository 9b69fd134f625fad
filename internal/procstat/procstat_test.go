package procstat

import (
	"os"
	"strconv"
	"testing"
)

func TestRSS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pid     string
		wantErr bool
	}{
		{name: "self", pid: "self"},
		{name: "own pid", pid: strconv.Itoa(os.Getpid())},
		{name: "no such process", pid: "999999999", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := RSS(tt.pid)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RSS(%s) error = %v, want error %v", tt.pid, err, tt.wantErr)
			}
			// A Go test binary is resident in at least a megabyte.
			if !tt.wantErr && got < 1<<20 {
				t.Errorf("RSS(%s) = %d bytes, implausibly small", tt.pid, got)
			}
		})
	}
}
