package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestLabsCommandChoosesBackends: `labs validate` needs no backend flag, and
// `labs test` never claims a chapter that needs real containers on the
// simulated cluster: asked for one, it names the command that proves it.
func TestLabsCommandChoosesBackends(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		wantOut string // in stdout
		wantErr string // in the error; empty: none
	}{
		{args: []string{"labs", "validate"}, wantOut: "tasks: valid"},
		{args: []string{"labs", "test", "--sandbox=bogus"}, wantErr: `--sandbox="bogus": want namespaced or kind`},
		{args: []string{"labs", "test", "--chapter", "probes"}, wantErr: "kubelab labs test --sandbox=kind --chapter probes"},
		{args: []string{"labs", "test", "--chapter", "nope"}, wantErr: `no chapter "nope"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, func(string) string { return "" }, &out, &errOut)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want %q", out.String(), tc.wantOut)
			}
		})
	}
}

// TestProvableChapters: the simulated cluster proves the chapters without
// needs and names the others; kind proves the ones that need containers.
func TestProvableChapters(t *testing.T) {
	t.Parallel()
	cat, _, err := loadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(sandbox string) (proven []string, said string) {
		var out bytes.Buffer
		chs, err := provableChapters(cat.Chapters(), labsTestConfig{Sandbox: sandbox}, &out)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			proven = append(proven, ch.ID)
		}
		return proven, out.String()
	}
	sim, said := ids("namespaced")
	kind, _ := ids("kind")
	for _, ch := range cat.Chapters() {
		runtime := slices.Contains(ch.Needs, "runtime")
		if inSim := slices.Contains(sim, ch.ID); inSim == runtime {
			t.Errorf("chapter %s (needs %v) proven on the simulated cluster: %v", ch.ID, ch.Needs, inSim)
		}
		if inKind := slices.Contains(kind, ch.ID); inKind != runtime {
			t.Errorf("chapter %s (needs %v) proven on kind: %v", ch.ID, ch.Needs, inKind)
		}
		if runtime && !strings.Contains(said, "not proven here: "+ch.ID) {
			t.Errorf("labs test on the simulated cluster does not say it leaves %s out: %q", ch.ID, said)
		}
	}
	if len(kind) == 0 {
		t.Error("no bundled chapter needs real containers: kind proves nothing")
	}
}
