package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		want   [][]string
	}{
		{"one command", "kubectl run hello-web --image=nginx:1.27 --restart=Never\n",
			[][]string{{"kubectl run hello-web --image=nginx:1.27 --restart=Never"}}},
		{"two commands, a blank line between", "kubectl delete pods --all\n\nkubectl rollout status deployment/hello-deploy --timeout=60s\n",
			[][]string{{"kubectl delete pods --all"}, {"kubectl rollout status deployment/hello-deploy --timeout=60s"}}},
		{"a here-document with a blank line inside", "kubectl apply -f - <<'EOF'\napiVersion: v1\n\nkind: Pod\nEOF\nkubectl wait --for=condition=Ready pod/x\n",
			[][]string{{"kubectl apply -f - <<'EOF'", "apiVersion: v1", "", "kind: Pod", "EOF"}, {"kubectl wait --for=condition=Ready pod/x"}}},
		{"unquoted and dash delimiters", "cat > a <<END\nx\nEND\ncat > b <<-\"DONE\"\n\ty\n\tDONE\n",
			[][]string{{"cat > a <<END", "x", "END"}, {"cat > b <<-\"DONE\"", "\ty", "\tDONE"}}},
		{"continuation lines", "kubectl annotate pod explorer --overwrite \\\n  pod-ip=\"$(kubectl get pod explorer -o jsonpath='{.status.podIP}')\" \\\n  node=x\necho done\n",
			[][]string{{"kubectl annotate pod explorer --overwrite \\", "  pod-ip=\"$(kubectl get pod explorer -o jsonpath='{.status.podIP}')\" \\", "  node=x"}, {"echo done"}}},
		{"a redirect is no here-document", "kubectl get pod x -o yaml > x.yaml\nsed -i 's/a/b/' x.yaml\n",
			[][]string{{"kubectl get pod x -o yaml > x.yaml"}, {"sed -i 's/a/b/' x.yaml"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, commands(tt.script)); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

// Every bundled chapter's solutions split into whole commands: no
// here-document is left open, so the typist never waits for a prompt that
// cannot come.
func TestBundledSolutionsSplit(t *testing.T) {
	t.Parallel()
	chapters, err := chaptersFor(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chapters {
		for _, task := range ch.Tasks {
			cmds := commands(task.Solution)
			if len(cmds) == 0 {
				t.Errorf("%s/%s: no command in its solution", ch.ID, task.ID)
			}
			for _, c := range cmds {
				last := c[len(c)-1]
				if strings.HasSuffix(last, "\\") || strings.Contains(c[0], "<<") && len(c) == 1 {
					t.Errorf("%s/%s: command %q is not complete", ch.ID, task.ID, c)
				}
			}
		}
	}
}

func TestMetricValue(t *testing.T) {
	t.Parallel()
	exposition := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 4676\n" +
		"kubelab_sandboxes{state=\"provisioning\"} 0\nkubelab_sandboxes{state=\"ready\"} 498\n"
	tests := []struct {
		name string
		want float64
		ok   bool
	}{
		{"go_goroutines", 4676, true},
		{`kubelab_sandboxes{state="ready"}`, 498, true},
		{"go_threads", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := metricValue(strings.NewReader(exposition), tt.name)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("metricValue(%s) = %v, %v; want %v, ok %v", tt.name, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestPromptAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		out        string
		prompt     bool
		continuing bool
	}{
		{"kubelab's first prompt", "\x1b[?2004h\x1b[1;34m~\x1b[0m\x1b[1;32m\x1b[0m $ ", true, false},
		{"after a resize's redraw", "\x1b[?2004h\x1b[1;34m~\x1b[0m\x1b[1;32m\x1b[0m $ \r\x1b[K\r\x1b[1;34m~\x1b[0m\x1b[1;32m\x1b[0m $ ", true, false},
		{"naming another namespace", "pod/web created\r\n\x1b[?2004h\x1b[1;34m~\x1b[0m\x1b[1;32m (ns: dev)\x1b[0m $ ", true, false},
		{"an older PS1", "\x1b[1;34mlearner@kubelab\x1b[0m \x1b[1;32m(ns: kl-1)\x1b[0m ~ $ ", true, false},
		{"still running", "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\r\n", false, false},
		{"a here-document's next line", "\r\n\x1b[?2004l\r\x1b[?2004h> ", false, true},
		{"a typed dollar inside the line", "echo $", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := promptAfter([]byte(tt.out)); got != tt.prompt {
				t.Errorf("promptAfter(%q) = %v, want %v", tt.out, got, tt.prompt)
			}
			if got := continuationAfter([]byte(tt.out)); got != tt.continuing {
				t.Errorf("continuationAfter(%q) = %v, want %v", tt.out, got, tt.continuing)
			}
		})
	}
}
