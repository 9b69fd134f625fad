// Package labshell builds the jailed shells of a lab session: the learner's
// (Spec, with the learner's credentials only) and the chapter setup's
// (Setup, with the sandbox's setup credentials), and what the Manager and
// the grader are told of a chapter's sandbox. `kubelab serve`, `kubelab
// labs test` and the server's tests all use it, so they run the same shells
// and grade the same way.
package labshell

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/jail"
)

// ScriptRunner runs a non-interactive script in a jail (jail.Jail).
type ScriptRunner interface {
	Run(ctx context.Context, spec jail.Spec, script string) ([]byte, error)
}

// SetupCredentials gives a sandbox's setup credentials (every
// sandbox.Provisioner does).
type SetupCredentials interface {
	SetupConfig(ctx context.Context, id string) (*rest.Config, error)
}

// Chapters finds a chapter by id: the catalog, or an exam's drawn tasks.
type Chapters interface {
	Chapter(id string) (*labs.Chapter, error)
}

// Setup returns the Manager's Prepare step: it runs the setup of every
// task of the session's chapter, in task order, in a jail holding the
// sandbox's setup credentials (never the learner's).
func Setup(cat Chapters, jails ScriptRunner, creds SetupCredentials) sandbox.PrepareFunc {
	return func(ctx context.Context, s sandbox.Session, sb *sandbox.Sandbox) error {
		ch, err := cat.Chapter(s.Chapter)
		if err != nil {
			return fmt.Errorf("setup of %s: %w", s.Chapter, err)
		}
		var tasks []*labs.Task
		for _, t := range ch.Tasks {
			if strings.TrimSpace(t.Setup) != "" {
				tasks = append(tasks, t)
			}
		}
		if len(tasks) == 0 {
			return nil
		}
		cfg, err := creds.SetupConfig(ctx, sb.ID)
		if err != nil {
			return fmt.Errorf("setup of %s: %w", s.Chapter, err)
		}
		spec := specFor(s.ID+"-setup", s.Chapter, sb, cfg)
		for _, t := range tasks {
			out, err := jails.Run(ctx, spec, t.Setup)
			if err != nil {
				return fmt.Errorf("setup of task %s (%s:%d): %w\n%s", t.ID, t.File, t.Line, err, strings.TrimSpace(string(out)))
			}
		}
		return nil
	}
}

// Spec describes the learner's shell for a sandbox: its kubeconfig
// holds the learner's credentials only.
func Spec(id, chapter string, sb *sandbox.Sandbox) jail.Spec {
	spec := specFor(id, chapter, sb, sb.Config)
	if spec.Token == "" && len(spec.CertData) == 0 { // a renewing token source: the kubeconfig holds the current token
		if kc, err := clientcmd.Load(sb.Kubeconfig); err == nil {
			if ctx := kc.Contexts[kc.CurrentContext]; ctx != nil && kc.AuthInfos[ctx.AuthInfo] != nil {
				spec.Token = kc.AuthInfos[ctx.AuthInfo].Token
			}
		}
	}
	return spec
}

// specFor is a shell in sandbox sb that authenticates with cfg.
func specFor(id, chapter string, sb *sandbox.Sandbox, cfg *rest.Config) jail.Spec {
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		ca, _ = os.ReadFile(cfg.CAFile)
	}
	token := cfg.BearerToken
	if token == "" && cfg.BearerTokenFile != "" {
		b, _ := os.ReadFile(cfg.BearerTokenFile)
		token = string(b)
	}
	spec := jail.Spec{ID: id, Server: cfg.Host, CAData: ca, Token: token,
		CertData: cfg.CertData, KeyData: cfg.KeyData,
		Namespace: sb.Namespace, Namespaces: sb.Namespaces, Context: chapter}
	for _, o := range sb.Others { // the learner is their admin, in setup too
		spec.Others = append(spec.Others, jail.OtherCluster{Context: o.Name, Server: o.Config.Host,
			CAData: o.Config.CAData, Token: o.Config.BearerToken, CertData: o.Config.CertData, KeyData: o.Config.KeyData})
	}
	return spec
}

// ChapterSpec is what the sandbox Manager needs to know of a chapter.
func ChapterSpec(ch *labs.Chapter) sandbox.ChapterSpec {
	return sandbox.ChapterSpec{ID: ch.ID, Size: ch.Size, Namespaces: ch.Namespaces,
		Cluster: ch.Sandbox == labs.SandboxCluster, Nodes: ch.Nodes, Clusters: ch.Clusters}
}

// Prepared lists the chapters worth warm sandboxes with their setup run
// ahead (sandbox.ManagerOptions.Prepared): those with a setup that can
// start here.
func Prepared(cat *labs.Catalog, canStart func(*labs.Chapter) bool) []sandbox.ChapterSpec {
	var out []sandbox.ChapterSpec
	for _, ch := range cat.Chapters() {
		if canStart(ch) && slices.ContainsFunc(ch.Tasks, func(t *labs.Task) bool { return strings.TrimSpace(t.Setup) != "" }) {
			out = append(out, ChapterSpec(ch))
		}
	}
	return out
}

// GraderTarget is what the grader reads of sandbox sb: with cfg, kubelab's
// own credentials on a shared cluster, or nil for the sandbox's (the
// admin's of a cluster of the learner's own), and each further cluster
// with its admin credentials.
func GraderTarget(cfg *rest.Config, sb *sandbox.Sandbox) (grader.Target, error) {
	if sb.Cluster || cfg == nil {
		cfg = sb.Config
	}
	t, err := grader.NewTarget(cfg, sb.Namespace, sb.Namespaces)
	if err != nil {
		return grader.Target{}, fmt.Errorf("grader target for sandbox %s: %w", sb.ID, err)
	}
	t.Cluster = sb.Cluster
	for _, o := range sb.Others {
		ot, err := grader.NewTarget(o.Config, "default", nil)
		if err != nil {
			return grader.Target{}, fmt.Errorf("grader target for sandbox %s, cluster %s: %w", sb.ID, o.Name, err)
		}
		ot.Cluster = true
		if t.Others == nil {
			t.Others = map[string]grader.Target{}
		}
		t.Others[o.Name] = ot
	}
	return t, nil
}
