package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelab/kubelab/sandbox/jail"
)

// TestEditorFiles: the editor's API saves into the learner's home and
// reads it back; only the session's owner reaches it, from our origin;
// names that leave the home, files too large and bodies that are not text
// get their sentences.
func TestEditorFiles(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t)
	owner := guest(t, ts)
	ss := startReady(t, owner, "pods")
	other := guest(t, ts)
	files := "/api/v1/sessions/" + ss.ID + "/files"
	text := map[string]string{"Content-Type": "text/plain"}

	manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: edited\n"
	if res, body := owner.raw(t, "PUT", files+"/manifests/pod.yaml", manifest, text); res.StatusCode != 204 {
		t.Fatalf("save: %d %s", res.StatusCode, body)
	}
	res, body := owner.raw(t, "GET", files+"/manifests/pod.yaml", "", nil)
	if res.StatusCode != 200 || string(body) != manifest {
		t.Fatalf("read back: %d %q, want %q", res.StatusCode, body, manifest)
	}
	res, body = owner.raw(t, "GET", files, "", nil)
	var list filesJSON
	if err := json.Unmarshal(body, &list); err != nil || res.StatusCode != 200 {
		t.Fatalf("list: %d %s (%v)", res.StatusCode, body, err)
	}
	want := filesJSON{Files: []jail.HomeEntry{{Path: "manifests", Dir: true}, {Path: "manifests/pod.yaml", Size: int64(len(manifest))}}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}

	tests := []struct {
		name       string
		c          *testClient
		method     string
		path       string
		body       string
		header     map[string]string
		wantStatus int
		wantError  string
	}{
		{"other: list", other, "GET", files, "", nil, 404, errNotFound.message},
		{"other: read", other, "GET", files + "/manifests/pod.yaml", "", nil, 404, errNotFound.message},
		{"other: save", other, "PUT", files + "/x.yaml", "x", text, 404, errNotFound.message},
		{"foreign Origin: save", owner, "PUT", files + "/x.yaml", "x", map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"climb out", owner, "GET", files + "/..%2f..%2fetc%2fpasswd", "", nil, 400, errFileName.message},
		{"climb out to save", owner, "PUT", files + "/a%2f..%2f..%2fescaped.yaml", "x", text, 400, errFileName.message},
		{"absolute", owner, "GET", files + "/%2fetc%2fpasswd", "", nil, 400, errFileName.message},
		{"missing", owner, "GET", files + "/nope.yaml", "", nil, 404, errFileMissing.message},
		{"a directory", owner, "GET", files + "/manifests", "", nil, 400, errNotAFile.message},
		{"too large", owner, "PUT", files + "/big.yaml", strings.Repeat("a", jail.MaxHomeFile+1), text, 413, errFileTooBig.message},
		{"not text", owner, "PUT", files + "/bin.dat", "a\x00b", text, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := tt.c.raw(t, tt.method, tt.path, tt.body, tt.header)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, res.StatusCode, body, tt.wantStatus)
			}
			if tt.wantError != "" {
				var e apiError
				if err := json.Unmarshal(body, &e); err != nil || e.Error != tt.wantError {
					t.Errorf("%s %s: body %s, want error %q", tt.method, tt.path, body, tt.wantError)
				}
			}
		})
	}
	if res, body := owner.raw(t, "GET", files+"/bin.dat", "", nil); res.StatusCode != 415 || !strings.Contains(string(body), errNotText.message) {
		t.Errorf("open a binary file: %d %s, want 415 %q", res.StatusCode, body, errNotText.message)
	}
}
