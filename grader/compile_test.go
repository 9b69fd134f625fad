package grader

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubelab/kubelab/labs"
)

func intp(i int) *int { return &i }

func TestCompileCheckErrors(t *testing.T) {
	t.Parallel()
	pod := labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "web"}
	execWeb := labs.Exec{Pod: "web", Command: []string{"cat", "/usr/share/nginx/html/index.html"}}
	tests := []struct {
		name    string
		check   labs.Check
		wantErr string // substring; empty means it compiles
	}{
		{"exists", labs.Check{Resource: pod}, ""},
		{"bool expect", labs.Check{Resource: pod, Expect: "object.spec.containers.exists(c, c.image == 'nginx:1.25')"}, ""},
		{"dyn expect is checked at run time", labs.Check{Resource: pod, Expect: "object.spec.hostNetwork"}, ""},
		{"kubernetes libraries", labs.Check{Resource: pod, Expect: "quantity(object.spec.containers[0].resources.limits.memory).isLessThan(quantity('1Gi')) && object.metadata.name.matches('^w') && isURL('https://x') && [1,2].isSorted()"}, ""},
		{"string extensions", labs.Check{Resource: pod, Expect: "object.metadata.name.lowerAscii().startsWith('w')"}, ""},
		{"count bounds", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "app=web"}, Match: labs.MatchCount, Min: intp(1), Max: intp(3)}, ""},
		{"explicit actual", labs.Check{Resource: pod, Expect: "object.spec.replicas == 3", Actual: "object.spec.replicas"}, ""},
		{"syntax error", labs.Check{Resource: pod, Expect: "object.spec.replicas =="}, "expect: ERROR: <input>:1:24: Syntax error"},
		{"undeclared variable", labs.Check{Resource: pod, Expect: "self.spec.replicas == 3"}, "undeclared reference to 'self'"},
		{"type error", labs.Check{Resource: pod, Expect: "'a' + 1 == 2"}, "found no matching overload for '_+_'"},
		{"not a bool", labs.Check{Resource: pod, Expect: "1 + 2"}, "expect: must be a bool, not int"},
		{"string is not a bool", labs.Check{Resource: pod, Expect: "'yes'"}, "expect: must be a bool, not string"},
		{"broken actual", labs.Check{Resource: pod, Expect: "true", Actual: "object.("}, "actual: ERROR"},
		{"missing kind", labs.Check{Resource: labs.Resource{APIVersion: "v1"}}, "resource.kind is required"},
		{"missing apiVersion", labs.Check{Resource: labs.Resource{Kind: "Pod"}}, "resource.apiVersion is required"},
		{"bad apiVersion", labs.Check{Resource: labs.Resource{APIVersion: "a/b/c", Kind: "Pod"}}, `resource.apiVersion "a/b/c"`},
		{"name and selector", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "a", Selector: "b=c"}}, "resource.name and resource.selector are exclusive"},
		{"bad selector", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "app in (web"}}, `resource.selector "app in (web"`},
		{"unknown match", labs.Check{Resource: pod, Match: "most"}, `match "most": want "all", "any", "count" or "none"`},
		{"count without bounds", labs.Check{Resource: pod, Match: labs.MatchCount}, `match "count" needs min, max or both`},
		{"min above max", labs.Check{Resource: pod, Match: labs.MatchCount, Min: intp(3), Max: intp(1)}, "min 3 is greater than max 1"},
		{"negative", labs.Check{Resource: pod, Match: labs.MatchCount, Min: intp(-1)}, "min and max must not be negative"},
		{"bounds on all", labs.Check{Resource: pod, Min: intp(1)}, `min and max apply only to match "count"`},
		{"restart count", labs.Check{Resource: pod, Expect: "object.status.containerStatuses.all(c, c.restartCount == 0)"}, ""},
		{"OOMKilled", labs.Check{Resource: pod, Expect: "object.status.containerStatuses.exists(c, has(c.lastState.terminated) && c.lastState.terminated.reason == 'OOMKilled')"}, ""},
		{"ready by a probe", labs.Check{Resource: pod, Expect: "object.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')"}, ""},
		{"exec", labs.Check{Exec: &execWeb, Expect: "output.contains('hello') && stdout.size() > 0 && stderr == '' && exitCode == 0"}, ""},
		{"exec default expect", labs.Check{Exec: &execWeb}, ""},
		{"exec by selector", labs.Check{Exec: &labs.Exec{Selector: "app=web", Command: []string{"ls"}}}, ""},
		{"exec output is a string", labs.Check{Exec: &execWeb, Expect: "output.contains(1)"}, "found no matching overload for 'contains' applied to 'string.(int)'"},
		{"exec exitCode is an int", labs.Check{Exec: &execWeb, Expect: "exitCode == '0'"}, "found no matching overload for '_==_' applied to '(int, string)'"},
		{"exec has no object", labs.Check{Exec: &execWeb, Expect: "object.status.phase == 'Running'"}, "undeclared reference to 'object'"},
		{"exec expect is a bool", labs.Check{Exec: &execWeb, Expect: "output"}, "expect: must be a bool, not string"},
		{"exec broken actual", labs.Check{Exec: &execWeb, Actual: "stdout +"}, "actual: ERROR"},
		{"exec without a pod", labs.Check{Exec: &labs.Exec{Command: []string{"ls"}}}, "exec needs pod or selector"},
		{"exec pod and selector", labs.Check{Exec: &labs.Exec{Pod: "web", Selector: "app=web", Command: []string{"ls"}}}, "exec.pod and exec.selector are exclusive"},
		{"exec bad selector", labs.Check{Exec: &labs.Exec{Selector: "app in (", Command: []string{"ls"}}}, `exec.selector "app in ("`},
		{"exec without a command", labs.Check{Exec: &labs.Exec{Pod: "web"}}, "exec.command is required"},
		{"exec timeout too long", labs.Check{Exec: &labs.Exec{Pod: "web", Command: []string{"ls"}, Timeout: 2 * time.Minute}}, "exec.timeout 2m0s must be positive and at most 1m0s"},
		{"exec with match", labs.Check{Exec: &execWeb, Match: labs.MatchCount, Min: intp(1)}, "match, min and max apply only to resource checks"},
		{"exec and resource", labs.Check{Resource: pod, Exec: &execWeb}, "resource, exec and probe are exclusive"},
		{"http", labs.Check{Probe: &labs.Probe{HTTP: "http://web/"}, Expect: "status == 200 && body.contains('Welcome') && error == ''"}, ""},
		{"http default expect", labs.Check{Probe: &labs.Probe{HTTP: "https://web.dev:8443/healthz"}}, ""},
		{"http has no addresses", labs.Check{Probe: &labs.Probe{HTTP: "http://web/"}, Expect: "addresses.size() > 0"}, "undeclared reference to 'addresses'"},
		{"http status is an int", labs.Check{Probe: &labs.Probe{HTTP: "http://web/"}, Expect: "status == '200'"}, "found no matching overload for '_==_' applied to '(int, string)'"},
		{"http not a URL", labs.Check{Probe: &labs.Probe{HTTP: "web:80"}}, `probe.http "web:80" must be an http:// or https:// URL`},
		{"dns", labs.Check{Probe: &labs.Probe{DNS: "web.dev.svc.cluster.local"}, Expect: "addresses.exists(a, isIP(a)) && error == ''"}, ""},
		{"dns default expect", labs.Check{Probe: &labs.Probe{DNS: "web"}}, ""},
		{"dns has no status", labs.Check{Probe: &labs.Probe{DNS: "web"}, Expect: "status == 200"}, "undeclared reference to 'status'"},
		{"dns addresses are strings", labs.Check{Probe: &labs.Probe{DNS: "web"}, Expect: "addresses.exists(a, a > 1)"}, "found no matching overload for '_>_' applied to '(string, int)'"},
		{"probe needs a question", labs.Check{Probe: &labs.Probe{}}, "probe needs http or dns"},
		{"http and dns", labs.Check{Probe: &labs.Probe{HTTP: "http://web/", DNS: "web"}}, "probe.http and probe.dns are exclusive"},
		{"probe timeout negative", labs.Check{Probe: &labs.Probe{DNS: "web", Timeout: -time.Second}}, "probe.timeout -1s must be positive and at most 1m0s"},
		{"exec and probe", labs.Check{Exec: &execWeb, Probe: &labs.Probe{DNS: "web"}}, "resource, exec and probe are exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CompileCheck(tt.check)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CompileCheck: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("CompileCheck: no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("CompileCheck error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCompileReportsEveryBrokenCheck(t *testing.T) {
	t.Parallel()
	ch := &labs.Chapter{ID: "pods", Tasks: []*labs.Task{
		{ID: "a", Checks: []labs.Check{
			{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod"}, Expect: "1", File: "02-pods/tasks.yaml", Line: 7},
			{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod"}, Expect: "true"},
		}},
		{ID: "b", Checks: []labs.Check{{Resource: labs.Resource{APIVersion: "v1"}, File: "02-pods/tasks.yaml", Line: 20}}},
	}}
	_, err := Compile(ch)
	if err == nil {
		t.Fatal("Compile: no error")
	}
	want := "compile checks of chapter pods: 02-pods/tasks.yaml:7: task a check 1: expect: must be a bool, not int\n" +
		"02-pods/tasks.yaml:20: task b check 1: resource.kind is required"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Compile error (-want +got):\n%s", diff)
	}
}

// TestExpressions evaluates compiled checks on in-memory objects: the CEL
// part of grading without a cluster.
func TestExpressions(t *testing.T) {
	t.Parallel()
	deploy := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"},
			// A Secret's way of holding values: base64, one with the newline echo adds.
			"annotations": map[string]any{"with-newline": "czNjcjN0Cg==", "plain": "czNjcjN0"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "nginx", "image": "nginx:1.25", "resources": map[string]any{"limits": map[string]any{"memory": "128Mi", "cpu": "250m"}}},
			}}},
		},
	}
	tests := []struct {
		name, expect, actual string
		wantOK               bool
		wantActual           string
		wantErr              string
	}{
		{name: "int equality", expect: "object.spec.replicas == 2", wantOK: true},
		{name: "derived actual", expect: "object.spec.replicas == 3", wantActual: "2"},
		{name: "derived actual on the right", expect: "3 == object.spec.replicas", wantActual: "2"},
		{name: "explicit actual", expect: "object.spec.template.spec.containers.all(c, c.image == 'nginx:1.27')", actual: "object.spec.template.spec.containers.map(c, c.image)", wantActual: `["nginx:1.25"]`},
		{name: "no actual", expect: "object.metadata.name.startsWith('x')", wantActual: "false"},
		{name: "missing field is not yet", expect: "object.spec.paused == true", wantActual: "field missing (no such key: paused)"},
		{name: "has", expect: "has(object.spec.paused)", wantActual: "false"},
		{name: "quantity", expect: "quantity(object.spec.template.spec.containers[0].resources.limits.memory).compareTo(quantity('256Mi')) < 0", wantOK: true},
		{name: "regex", expect: "object.spec.template.spec.containers[0].image.matches('^nginx:1\\\\.2[0-9]$')", wantOK: true},
		{name: "lists", expect: "object.spec.template.spec.containers.map(c, c.name).indexOf('nginx') == 0", wantOK: true},
		{name: "labels map", expect: "object.metadata.labels['app'] == 'web'", wantOK: true},
		{name: "map value actual", expect: "object.metadata.labels == {'app': 'api'}", wantActual: `{"app":"web"}`},
		{name: "optional field absent", expect: "object.spec.?paused.orValue(false) == false", wantOK: true},
		{name: "optional chain", expect: "object.?status.?readyReplicas.orValue(0) == 2", wantActual: "0"},
		{name: "optional map key", expect: "object.metadata.?labels[?'tier'].orValue('none') == 'none'", wantOK: true},
		{name: "base64 decode", expect: "string(base64.decode(object.metadata.annotations.plain)) == 's3cr3t'", wantOK: true},
		{name: "base64 keeps the newline", expect: "string(base64.decode(object.metadata.annotations['with-newline'])) == 's3cr3t'", wantActual: "\"s3cr3t\\n\""},
		{name: "base64 trimmed", expect: "string(base64.decode(object.metadata.annotations['with-newline'])).trim() == 's3cr3t'", wantOK: true},
		{name: "sets", expect: "sets.contains(object.spec.template.spec.containers.map(c, c.name), ['nginx'])", wantOK: true},
		{name: "math", expect: "math.greatest(object.spec.replicas, 5) == 5", wantOK: true},
		{name: "sorted", expect: "object.spec.template.spec.containers.map(c, c.name).sort() == ['nginx']", wantOK: true},
		{name: "mixed list actual", expect: "object.spec.replicas == 3", actual: "[object.spec.replicas, object.metadata.name]", wantActual: `[2,"web"]`},
		{name: "dyn non-bool is a runtime error", expect: "object.spec.replicas", wantErr: "expect gave int, not a bool"},
		{name: "runtime error", expect: "object.spec.replicas / 0 == 1", wantErr: "division by zero"},
		{name: "cost limit", expect: "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))", wantErr: "operation cancelled: actual cost limit exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc, err := compileCheck(labs.Check{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, Expect: tt.expect, Actual: tt.actual})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			ok, actual, err := cc.evalObject(t.Context(), &unstructured.Unstructured{Object: deploy}, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("evaluate error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("evaluate: %v", err)
			}
			if ok != tt.wantOK || actual != tt.wantActual {
				t.Errorf("evaluate = %v, %q; want %v, %q", ok, actual, tt.wantOK, tt.wantActual)
			}
		})
	}
}
