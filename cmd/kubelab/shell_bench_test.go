package main

import (
	"bytes"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/kubelab/kubelab/sandbox/jail"
)

// BenchmarkShellPrompt times a learner's jailed shell from its start to
// its first prompt, with kubelab as its API forwarder and kubectl, as
// `kubelab serve` starts it: what every terminal costs before the learner
// sees anything.
func BenchmarkShellPrompt(b *testing.B) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()
	j, err := newJails(slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	spec := jail.Spec{ID: "bench", Server: api.URL, Token: "t", Namespace: "default", Context: "bench",
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})}
	var took []time.Duration
	for range b.N {
		t0 := time.Now()
		sh, err := j.Shell(b.Context(), spec)
		if err != nil {
			b.Fatal(err)
		}
		var out []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(out, []byte("$ ")) {
			n, err := sh.Read(buf)
			if err != nil {
				b.Fatalf("shell output %q: %v", out, err)
			}
			out = append(out, buf[:n]...)
		}
		took = append(took, time.Since(t0))
		_ = sh.Close()
		_ = sh.Wait()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-p50/prompt")
	b.ReportMetric(float64(took[len(took)*9/10].Microseconds())/1000, "ms-p90/prompt")
}
