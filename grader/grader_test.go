package grader_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox/simcluster/simclustertest"
)

func TestMain(m *testing.M) { simclustertest.Main(m) }

func intp(i int) *int { return &i }

// sandbox is a primary namespace and one extra ("dev") in the simcluster.
type sandbox struct {
	target  grader.Target
	ns, dev string
	dyn     dynamic.Interface
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	return newSandboxWithConfig(t, simclustertest.Cluster(t).AdminConfig())
}

func newSandboxWithConfig(t testing.TB, cfg *rest.Config) sandbox {
	t.Helper()
	ns, dev := simclustertest.Namespace(t), simclustertest.Namespace(t)
	target, err := grader.NewTarget(cfg, ns, map[string]string{"dev": dev})
	if err != nil {
		t.Fatalf("NewTarget: %v", err)
	}
	return sandbox{target: target, ns: ns, dev: dev, dyn: target.Dynamic}
}

var gvrs = map[string]schema.GroupVersionResource{
	"Deployment":    {Group: "apps", Version: "v1", Resource: "deployments"},
	"ConfigMap":     {Version: "v1", Resource: "configmaps"},
	"Pod":           {Version: "v1", Resource: "pods"},
	"Secret":        {Version: "v1", Resource: "secrets"},
	"ResourceQuota": {Version: "v1", Resource: "resourcequotas"},
}

// apply creates objects from YAML documents in namespace ns.
func (s sandbox) apply(t testing.TB, ns, docs string) {
	t.Helper()
	for _, doc := range strings.Split(docs, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("parse %q: %v", doc, err)
		}
		if _, err := s.dyn.Resource(gvrs[obj.GetKind()]).Namespace(ns).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
}

const objects = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: "nginx:1.25"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {tier: front}}
spec: {containers: [{name: c, image: "nginx:1.25"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {tier: front}}
spec: {containers: [{name: c, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, labels: {tier: front}}
spec: {containers: [{name: c, image: "busybox:1.36"}]}`

func TestCheckKinds(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.apply(t, s.ns, objects)
	s.apply(t, s.dev, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: dev}")
	s.apply(t, s.ns, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: answers}\ndata: {front: \"3\", nginx: \"1\"}")

	deploy := labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	front := labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "tier=front"}
	nginx := "object.spec.containers[0].image.startsWith('nginx')"
	tests := []struct {
		name  string
		check labs.Check
		want  grader.CheckResult
	}{
		{"named exists", labs.Check{Resource: deploy}, grader.CheckResult{Passed: true}},
		{"named expect holds", labs.Check{Resource: deploy, Expect: "object.spec.replicas == 2"}, grader.CheckResult{Passed: true}},
		{"named expect fails", labs.Check{Resource: deploy, Expect: "object.spec.replicas == 3", Message: "scale web to 3"},
			grader.CheckResult{Message: "scale web to 3", Detail: "expected: object.spec.replicas == 3; actual: 2"}},
		{"named missing", labs.Check{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"}},
			grader.CheckResult{Detail: fmt.Sprintf(`no Deployment "api" in namespace %s`, s.ns)}},
		{"missing field is not yet", labs.Check{Resource: deploy, Expect: "object.spec.paused == true"},
			grader.CheckResult{Detail: "expected: object.spec.paused == true; actual: field missing (no such key: paused)"}},
		{"all holds", labs.Check{Resource: front, Expect: "object.spec.containers.size() == 1"}, grader.CheckResult{Passed: true}},
		{"all fails", labs.Check{Resource: front, Expect: nginx},
			grader.CheckResult{Detail: `2 of 3 Pods match (want all); Pod "c": expected: ` + nginx + "; actual: false"}},
		{"all of nothing fails", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "tier=back"}},
			grader.CheckResult{Detail: fmt.Sprintf(`no Pod matching "tier=back" in namespace %s`, s.ns)}},
		{"any holds", labs.Check{Resource: front, Match: labs.MatchAny, Expect: "object.metadata.name == 'b'"}, grader.CheckResult{Passed: true}},
		{"any fails", labs.Check{Resource: front, Match: labs.MatchAny, Expect: "object.metadata.name == 'z'"},
			grader.CheckResult{Detail: `none of 3 Pods match; Pod "a": expected: object.metadata.name == 'z'; actual: "a"`}},
		{"count within", labs.Check{Resource: front, Match: labs.MatchCount, Min: intp(2), Max: intp(2), Expect: nginx}, grader.CheckResult{Passed: true}},
		{"count below min", labs.Check{Resource: front, Match: labs.MatchCount, Min: intp(3), Expect: nginx},
			grader.CheckResult{Detail: "2 of 3 Pods match (want at least 3)"}},
		{"count above max", labs.Check{Resource: front, Match: labs.MatchCount, Max: intp(1), Expect: nginx},
			grader.CheckResult{Detail: "2 of 3 Pods match (want at most 1)"}},
		{"count zero allowed", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "tier=back"}, Match: labs.MatchCount, Max: intp(0)}, grader.CheckResult{Passed: true}},
		{"whole kind", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod"}, Match: labs.MatchCount, Min: intp(3)}, grader.CheckResult{Passed: true}},
		{"extra namespace", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", Namespace: "dev"}, Expect: "object.data.mode == 'prod'"},
			grader.CheckResult{Detail: `expected: object.data.mode == 'prod'; actual: "dev"`}},
		{"not in the primary namespace", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings"}},
			grader.CheckResult{Detail: fmt.Sprintf(`no ConfigMap "settings" in namespace %s`, s.ns)}},
		{"unknown logical namespace", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "prod"}},
			grader.CheckResult{Error: `the sandbox has no namespace "prod"`}},
		{"a real namespace name is not a logical one", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "kube-system"}},
			grader.CheckResult{Error: `the sandbox has no namespace "kube-system"`}},
		{"cluster-scoped kind", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Namespace", Name: s.ns}},
			grader.CheckResult{Error: "kind Namespace is cluster-scoped; checks read only the sandbox's namespaces (a chapter with sandbox: cluster can read it)"}},
		{"absent passes", labs.Check{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"}, Match: labs.MatchNone}, grader.CheckResult{Passed: true}},
		{"absent fails while it exists", labs.Check{Resource: deploy, Match: labs.MatchNone},
			grader.CheckResult{Detail: fmt.Sprintf(`Deployment "web" exists in namespace %s (want none)`, s.ns)}},
		{"none of a selection", labs.Check{Resource: front, Match: labs.MatchNone, Expect: "object.spec.containers[0].image == 'nginx:1.21'"}, grader.CheckResult{Passed: true}},
		{"none fails on a match", labs.Check{Resource: front, Match: labs.MatchNone, Expect: nginx},
			grader.CheckResult{Detail: `2 of 3 Pods match ` + nginx + ` (want none): Pod "a" first`}},
		{"with: across objects", labs.Check{Resource: deploy, With: []labs.Binding{{Name: "pods", Resource: front}},
			Expect: "object.spec.replicas == pods.size() - 1"}, grader.CheckResult{Passed: true}},
		{"with: an answer against the truth", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "answers"},
			With:   []labs.Binding{{Name: "pods", Resource: front}},
			Expect: "object.data.?front.orValue('') == string(pods.size()) && object.data.nginx == string(pods.filter(p, p.spec.containers[0].image == 'nginx:1.27').size())"},
			grader.CheckResult{Passed: true}},
		{"with: a wrong answer", labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "answers"},
			With:   []labs.Binding{{Name: "pods", Resource: labs.Resource{APIVersion: "v1", Kind: "Pod"}}},
			Expect: "object.data.nginx == string(pods.filter(p, p.spec.containers[0].image.startsWith('nginx')).size())"},
			grader.CheckResult{Detail: `expected: object.data.nginx == string(pods.filter(p, p.spec.containers[0].image.startsWith('nginx')).size()); actual: "1"`}},
		{"with: one named object, missing, is an empty list", labs.Check{Resource: deploy,
			With: []labs.Binding{{Name: "svc", Resource: labs.Resource{APIVersion: "v1", Kind: "Service", Name: "web"}}}, Expect: "svc.size() == 0"},
			grader.CheckResult{Passed: true}},
		{"with: in another namespace", labs.Check{Resource: deploy,
			With:   []labs.Binding{{Name: "settings", Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", Namespace: "dev"}}},
			Expect: "settings[0].data.mode == 'dev'"}, grader.CheckResult{Passed: true}},
		{"with: cluster-scoped refused", labs.Check{Resource: deploy,
			With: []labs.Binding{{Name: "nodes", Resource: labs.Resource{APIVersion: "v1", Kind: "Node"}}}, Expect: "nodes.size() > 0"},
			grader.CheckResult{Error: "with nodes: kind Node is cluster-scoped; checks read only the sandbox's namespaces (a chapter with sandbox: cluster can read it)"}},
		{"how it was made", labs.Check{Resource: deploy, Expect: "object.metadata.managedFields.exists(f, f.manager != '' && f.operation == 'Update')"}, grader.CheckResult{Passed: true}},
		{"runtime error", labs.Check{Resource: deploy, Expect: "object.spec.replicas / 0 == 1"},
			grader.CheckResult{Error: `Deployment "web": evaluate expect: division by zero`}},
		{"non-bool result", labs.Check{Resource: deploy, Expect: "object.spec.replicas"},
			grader.CheckResult{Error: `Deployment "web": expect gave int, not a bool`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Title: "T", Points: 1, Checks: []labs.Check{tt.check}}}}
			prog, err := grader.Compile(ch)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got := prog.Evaluate(t.Context(), s.target)
			if diff := cmp.Diff(tt.want, got[0].Checks[0]); diff != "" {
				t.Errorf("check result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownKind(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	prog, err := grader.Compile(&labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "example.com/v1", Kind: "Widget", Name: "w"}},
	}}}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	got := prog.Evaluate(t.Context(), s.target)[0].Checks[0]
	if got.Passed || !strings.Contains(got.Error, "kind Widget: no matches for kind") {
		t.Errorf("check result = %+v, want an error about the unknown kind", got)
	}
}

func TestPartialCredit(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.apply(t, s.ns, objects)
	deploy := labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{
		{ID: "scale", Title: "Scale", Points: 3, Checks: []labs.Check{
			{Resource: deploy, Expect: "object.spec.replicas == 2"},
			{Resource: deploy, Expect: "object.metadata.labels.app == 'web'"},
			{Resource: deploy, Expect: "object.spec.replicas == 5"},
		}},
		{ID: "done", Title: "Done", Checks: []labs.Check{{Resource: deploy}}},
		{ID: "none", Title: "None", Points: 2, Checks: []labs.Check{{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "zz"}}}},
	}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	type score struct {
		ID     string
		Points int
		Score  float64
		Passed bool
	}
	var got []score
	for _, r := range prog.Evaluate(t.Context(), s.target) {
		got = append(got, score{r.ID, r.Points, r.Score, r.Passed})
	}
	want := []score{{"scale", 3, 2, false}, {"done", 1, 1, true}, {"none", 2, 0, false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}

	r, err := prog.EvaluateTask(t.Context(), s.target, "done")
	if err != nil || !r.Passed {
		t.Errorf("EvaluateTask(done) = %+v, %v; want passed", r, err)
	}
	if _, err := prog.EvaluateTask(t.Context(), s.target, "nope"); !errors.Is(err, grader.ErrUnknownTask) {
		t.Errorf("EvaluateTask(nope) error = %v, want ErrUnknownTask", err)
	}
}

// TestTimeout grades against an API server that accepts requests and never
// answers: every check must come back as an evaluation error, in time.
func TestTimeout(t *testing.T) {
	t.Parallel()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: hang.URL})
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	target := grader.Target{Dynamic: dyn, Mapper: mapper, Namespace: "learner"}
	prog, err := grader.Compile(&labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}},
		{Resource: labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Selector: "app=web"}},
	}}}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	prog.CheckTimeout = 100 * time.Millisecond
	res := prog.Evaluate(t.Context(), target)[0]
	if res.Passed || res.Score != 0 {
		t.Errorf("task = %+v, want not passed", res)
	}
	for i, c := range res.Checks {
		if c.Passed || !strings.HasPrefix(c.Error, "timed out: ") {
			t.Errorf("check %d = %+v, want a timed-out error", i, c)
		}
	}

	// Live, the caches never fill: the results say so, and Watch still
	// stops with its context.
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan []grader.TaskResult, 1)
	done := make(chan error, 1)
	go func() { done <- prog.Watch(ctx, target, func(r []grader.TaskResult) { got <- r }) }()
	select {
	case rs := <-got:
		want := "timed out: the sandbox's API did not answer within 100ms"
		if c := rs[0].Checks; len(c) != 2 || c[0].Error != want || c[1].Error != want {
			t.Errorf("live checks = %+v, want %q", c, want)
		}
	case <-time.After(10 * time.Second):
		t.Error("no live result from a silent API server")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Watch did not return after its context ended")
	}
}

// TestWatch changes objects and waits for the results to arrive.
func TestWatch(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.apply(t, s.ns, objects)
	deploy := labs.Resource{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{
		{ID: "scale", Title: "Scale", Checks: []labs.Check{{Resource: deploy, Expect: "object.spec.replicas == 4"}}},
		{ID: "config", Title: "Config", Checks: []labs.Check{{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", Namespace: "dev"}, Expect: "object.data.mode == 'prod'"}}},
		{ID: "pods", Title: "Pods", Checks: []labs.Check{{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Selector: "tier=front"}, Match: labs.MatchCount, Min: intp(3)}}},
	}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	updates := make(chan []grader.TaskResult, 16)
	done := make(chan error, 1)
	go func() { done <- prog.Watch(ctx, s.target, func(r []grader.TaskResult) { updates <- r }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	}()

	type brief struct {
		ID     string
		Passed bool
		Detail string
	}
	next := func() []brief {
		t.Helper()
		select {
		case rs := <-updates:
			var out []brief
			for _, r := range rs {
				d := ""
				if !r.Passed {
					d = r.Checks[0].Detail + r.Checks[0].Error
				}
				out = append(out, brief{r.ID, r.Passed, d})
			}
			return out
		case <-time.After(20 * time.Second):
			t.Fatal("no result update")
			return nil
		}
	}
	want := []brief{
		{"scale", false, "expected: object.spec.replicas == 4; actual: 2"},
		{"config", false, fmt.Sprintf(`no ConfigMap "settings" in namespace %s`, s.dev)},
		{"pods", true, ""},
	}
	if diff := cmp.Diff(want, next()); diff != "" {
		t.Fatalf("first update (-want +got):\n%s", diff)
	}

	patch := []byte(`{"spec":{"replicas":4}}`)
	if _, err := s.dyn.Resource(gvrs["Deployment"]).Namespace(s.ns).Patch(t.Context(), "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale: %v", err)
	}
	// The deployment controller also updates status; only the change of
	// result is reported, once.
	if diff := cmp.Diff([]brief{{"scale", true, ""}}, next()); diff != "" {
		t.Fatalf("after scaling (-want +got):\n%s", diff)
	}

	s.apply(t, s.dev, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: prod}")
	if diff := cmp.Diff([]brief{{"config", true, ""}}, next()); diff != "" {
		t.Fatalf("after the config map (-want +got):\n%s", diff)
	}

	if err := s.dyn.Resource(gvrs["Pod"]).Namespace(s.ns).Delete(t.Context(), "a", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	if diff := cmp.Diff([]brief{{"pods", false, "2 of 2 Pods match (want at least 3)"}}, next()); diff != "" {
		t.Fatalf("after deleting a pod (-want +got):\n%s", diff)
	}
	select {
	case rs := <-updates:
		t.Errorf("unexpected update %+v", rs)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestActiveChecksWaitForResourceChecks: an exec or probe check costs a
// round trip into a container or a Pod of its own, so it runs only once the
// task's resource checks pass; until then it fails saying why, without an
// error (on the simulated cluster it could not run at all).
func TestActiveChecksWaitForResourceChecks(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	ch := &labs.Chapter{ID: "c", Needs: []string{"runtime"}, Tasks: []*labs.Task{{ID: "t", Title: "T", Points: 2, Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Pod", Name: "web"}, Message: "Pod web exists"},
		{Exec: &labs.Exec{Pod: "web", Command: []string{"true"}, Timeout: time.Second}, Message: "web answers"},
		{Probe: &labs.Probe{HTTP: "http://web/", Timeout: time.Second}, Message: "web serves"},
	}}}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	got := prog.Evaluate(t.Context(), s.target)[0]
	want := []grader.CheckResult{
		{Message: "Pod web exists", Detail: got.Checks[0].Detail},
		{Message: "web answers", Detail: "not run yet: the task's other checks must pass first"},
		{Message: "web serves", Detail: "not run yet: the task's other checks must pass first"},
	}
	if diff := cmp.Diff(want, got.Checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if got.Passed || got.Score != 0 {
		t.Errorf("task passed=%v score=%v, want a failed task with no score", got.Passed, got.Score)
	}
}

// TestClusterTarget: in a cluster of the learner's own, checks read
// cluster-scoped kinds and real namespace names, on demand and live.
func TestClusterTarget(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.apply(t, s.dev, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: dev}")
	target := s.target
	target.Cluster = true
	ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Title: "T", Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Node", Name: "node-1"}, Expect: "object.metadata.labels['kubernetes.io/hostname'] == 'node-1'"},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Namespace", Name: s.dev}},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", Namespace: s.dev}, Expect: "object.data.mode == 'dev'"},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Node", Name: "nowhere"}},
	}}}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	want := []grader.CheckResult{{Passed: true}, {Passed: true}, {Passed: true}, {Detail: `no Node "nowhere" in the cluster`}}
	if diff := cmp.Diff(want, prog.Evaluate(t.Context(), target)[0].Checks); diff != "" {
		t.Errorf("on demand (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, firstWatched(t, prog, target)[0].Checks); diff != "" {
		t.Errorf("live (-want +got):\n%s", diff)
	}
}

// TestFurtherClusterTarget reads checks with `cluster:` from that cluster's
// target: here a namespace sandbox whose further cluster "east" (the same
// API server, read as a whole cluster) lets a Node check pass that the
// primary one refuses; a cluster the sandbox lacks is an Error.
func TestFurtherClusterTarget(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.apply(t, s.dev, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: dev}")
	target := s.target
	east := s.target
	east.Cluster = true
	target.Others = map[string]grader.Target{"east": east}
	ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Title: "T", Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Node", Name: "node-1"}, Cluster: "east"},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Node", Name: "node-1"}},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", Namespace: s.dev}, Cluster: "east", Expect: "object.data.mode == 'dev'"},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Node", Name: "node-1"}, Cluster: "west"},
	}}}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	want := []grader.CheckResult{{Passed: true},
		{Error: "kind Node is cluster-scoped; checks read only the sandbox's namespaces (a chapter with sandbox: cluster can read it)"},
		{Passed: true}, {Error: `the sandbox has no cluster "west"`}}
	if diff := cmp.Diff(want, prog.Evaluate(t.Context(), target)[0].Checks); diff != "" {
		t.Errorf("on demand (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, firstWatched(t, prog, target)[0].Checks); diff != "" {
		t.Errorf("live (-want +got):\n%s", diff)
	}
}

// firstWatched is what Watch reports first (every task, once its caches
// have synced); Watch is then stopped.
func firstWatched(t *testing.T, prog *grader.Program, target grader.Target) []grader.TaskResult {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := make(chan []grader.TaskResult, 1)
	done := make(chan error, 1)
	go func() {
		done <- prog.Watch(ctx, target, func(r []grader.TaskResult) {
			select {
			case first <- r:
			default:
			}
		})
	}()
	var r []grader.TaskResult
	select {
	case r = <-first:
	case err := <-done:
		t.Fatalf("Watch ended: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("Watch gave no results within a minute")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
	return r
}

// TestHelmRelease reads a release as helm stores it (JSON, gzip, base64,
// in a Secret of type helm.sh/release.v1): which chart, which revision,
// which values. Any other Secret is an Error that says so.
func TestHelmRelease(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	rel := `{"name":"web","namespace":"x","version":2,"info":{"status":"deployed"},` +
		`"chart":{"metadata":{"name":"web","version":"0.2.0","appVersion":"1.27"}},"config":{"replicaCount":2}}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(rel))
	_ = zw.Close()
	helmEncoded := base64.StdEncoding.EncodeToString(gz.Bytes())
	s.apply(t, s.ns, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: sh.helm.release.v1.web.v2, labels: {owner: helm, name: web, status: deployed, version: "2"}}
type: helm.sh/release.v1
data: {release: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: plain}
stringData: {a: b}`, base64.StdEncoding.EncodeToString([]byte(helmEncoded))))
	ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Title: "T", Checks: []labs.Check{
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Secret", Selector: "owner=helm,name=web,status=deployed"}, Match: labs.MatchAny,
			Expect: "helmRelease(object).chart == 'web' && helmRelease(object).chartVersion == '0.2.0' && " +
				"helmRelease(object).revision == 2 && helmRelease(object).values.replicaCount == 2"},
		{Resource: labs.Resource{APIVersion: "v1", Kind: "Secret", Name: "plain"}, Expect: "helmRelease(object).status == 'deployed'"},
	}}}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	got := prog.Evaluate(t.Context(), s.target)[0].Checks
	if !got[0].Passed {
		t.Errorf("the release check failed: %+v", got[0])
	}
	if got[1].Passed || !strings.Contains(got[1].Error, `not a Helm release Secret (type "Opaque")`) {
		t.Errorf("helmRelease of an Opaque Secret: %+v, want an Error naming its type", got[1])
	}
}

// TestEventsAsEvidence: a check reads Events (reason, message, the object
// they are about), so a task can ask for what only an Event shows — here a
// quota refusing a ReplicaSet's Pods.
func TestEventsAsEvidence(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	check := labs.Check{Resource: labs.Resource{APIVersion: "v1", Kind: "Event"}, Match: labs.MatchAny,
		Expect: "object.reason == 'FailedCreate' && object.involvedObject.kind == 'ReplicaSet' && object.message.contains('exceeded quota')"}
	ch := &labs.Chapter{ID: "c", Tasks: []*labs.Task{{ID: "t", Title: "T", Points: 1, Checks: []labs.Check{check}}}}
	prog, err := grader.Compile(ch)
	if err != nil {
		t.Fatal(err)
	}
	if r := prog.Evaluate(t.Context(), s.target)[0]; r.Passed {
		t.Fatalf("passed before anything was refused: %+v", r)
	}
	s.apply(t, s.ns, "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: no-pods}\nspec: {hard: {pods: \"0\"}}")
	s.apply(t, s.ns, objects[:strings.Index(objects, "\n---\n")]) // the Deployment web
	var last grader.TaskResult
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if last = prog.Evaluate(t.Context(), s.target)[0]; last.Passed {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no FailedCreate event seen: %+v", last.Checks)
}
