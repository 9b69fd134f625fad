package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kubelab/kubelab/grader"
	"github.com/kubelab/kubelab/grader/labtest"
	"github.com/kubelab/kubelab/internal/labshell"
	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/sandbox"
	"github.com/kubelab/kubelab/sandbox/childcluster"
	"github.com/kubelab/kubelab/sandbox/jail"
	"github.com/kubelab/kubelab/sandbox/kindcluster"
	"github.com/kubelab/kubelab/sandbox/namespaced"
	"github.com/kubelab/kubelab/sandbox/simcluster"
)

func clusterCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c commonConfig
	var nodes int
	f := newEnvFlags("cluster", getenv)
	c.register(f)
	f.integer(&nodes, "nodes", 3, "simulated nodes")
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	return simcluster.Run(ctx, simcluster.Options{DataDir: filepath.Join(c.DataDir, "cluster"), Nodes: nodes, Log: log})
}

// forwardCmd is the relay started inside a learner's jail; it is not meant
// to be run by hand.
func forwardCmd(ctx context.Context, args []string) error {
	routes, err := jail.ParseRoutes(args)
	if err != nil {
		return fmt.Errorf("usage: kubelab forward LISTEN-ADDR SOCKET [...] (started by the jail): %w", err)
	}
	return jail.Forward(ctx, routes, os.Stdout)
}

// loadCatalog loads dir, or the bundled chapters, compiling every check.
func loadCatalog(dir string) (*labs.Catalog, map[string]*grader.Program, error) {
	fsys, err := labsFS(dir)
	if err != nil {
		return nil, nil, err
	}
	// The checks are compiled once, below, not also while loading: that
	// was half of kubelab's start.
	cat, err := labs.Load(fsys, labs.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("invalid chapters:\n%w", err)
	}
	progs, err := compileChapters(cat.Chapters())
	if err != nil {
		return nil, nil, fmt.Errorf("invalid chapters:\n%w", err)
	}
	return cat, progs, nil
}

// compileChapters compiles every chapter's checks, the chapters side by
// side; the errors come in chapter order.
func compileChapters(chapters []*labs.Chapter) (map[string]*grader.Program, error) {
	progs := make([]*grader.Program, len(chapters))
	errs := make([]error, len(chapters))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				progs[i], errs[i] = grader.Compile(chapters[i])
			}
		})
	}
	for i := range chapters {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make(map[string]*grader.Program, len(chapters))
	for i, ch := range chapters {
		out[ch.ID] = progs[i]
	}
	return out, nil
}

// labsFS is the chapters' file system: the bundled ones, or dir's.
func labsFS(dir string) (fs.FS, error) {
	if dir == "" {
		return labs.Bundled(), nil
	}
	// Through os.Root no path, link or "..", can lead outside dir. The
	// root stays open for the process: the catalog reads assets from it.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open labs folder: %w", err)
	}
	return root.FS(), nil
}

func labsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "test") {
		return errors.New("usage: kubelab labs validate [dir] | kubelab labs test [--chapter id] [--sandbox namespaced|kind] [dir]")
	}
	sub := args[0]
	var lt labsTestConfig
	f := newEnvFlags("labs "+sub, getenv)
	if sub == "test" {
		f.StringVar(&lt.Chapter, "chapter", "", "test only this chapter")
		f.str(&lt.Sandbox, "sandbox", "namespaced", "backend to prove chapters on: namespaced (the embedded simulated cluster: chapters without needs) or kind (a kind cluster per chapter: chapters that need real containers)")
		f.str(&lt.KindImage, "kind-image", "", "node image of --sandbox=kind clusters (scripts/kind-up builds one offline); empty: kind's default")
	}
	if err := f.parse(args[1:], stdout); err != nil {
		return err
	}
	if sub == "test" && lt.Sandbox != "namespaced" && lt.Sandbox != "kind" {
		return fmt.Errorf("--sandbox=%q: want namespaced or kind", lt.Sandbox)
	}
	dir := f.Arg(0)
	fsys, err := labsFS(dir)
	if err != nil {
		return err
	}
	// Every problem at once, checks' CEL included, each with its line.
	cat, err := labs.Load(fsys, labs.Options{CompileCheck: grader.CompileCheck})
	if err != nil {
		return fmt.Errorf("invalid chapters:\n%w", err)
	}
	tasks := 0
	for _, ch := range cat.Chapters() {
		tasks += len(ch.Tasks)
	}
	fmt.Fprintf(stdout, "%d chapters, %d tasks: valid\n", len(cat.Chapters()), tasks)
	if sub == "validate" {
		return nil
	}
	chapters, err := provableChapters(cat.Chapters(), lt, stdout)
	if err != nil {
		return err
	}
	return labsTest(ctx, cat, chapters, lt, stdout, stderr)
}

// labsTestConfig is what `kubelab labs test` was asked to prove, and where.
type labsTestConfig struct {
	Chapter   string
	Sandbox   string
	KindImage string
}

// provableChapters picks the chapters lt.Sandbox can prove: the simulated
// cluster runs no containers, so a chapter that needs them is proven on
// kind and never claimed on the simulated cluster; kind proves exactly
// those (the others are proven faster on the simulated cluster). Every
// chapter left out is named, with the command that proves it.
func provableChapters(all []*labs.Chapter, lt labsTestConfig, out io.Writer) ([]*labs.Chapter, error) {
	var chapters []*labs.Chapter
	for _, ch := range all {
		if lt.Chapter != "" && ch.ID != lt.Chapter {
			continue
		}
		real := slices.Contains(ch.Needs, "runtime")
		switch {
		case lt.Sandbox == "kind" && (real || lt.Chapter != ""):
			chapters = append(chapters, ch)
		case lt.Sandbox == "namespaced" && !real:
			chapters = append(chapters, ch)
		case lt.Chapter != "":
			return nil, fmt.Errorf("chapter %s needs real containers: prove it with `kubelab labs test --sandbox=kind --chapter %s`", ch.ID, ch.ID)
		case lt.Sandbox == "namespaced":
			fmt.Fprintf(out, "not proven here: %s needs real containers; `kubelab labs test --sandbox=kind` proves it\n", ch.ID)
		}
	}
	if lt.Chapter != "" && len(chapters) == 0 {
		return nil, fmt.Errorf("labs test: no chapter %q", lt.Chapter)
	}
	return chapters, nil
}

// labsTest proves every task the way a learner meets it in `kubelab
// serve`: each chapter's session starts through the same sandbox Manager
// (on a private PostgreSQL, and the simulated cluster or a kind cluster per
// chapter), so the chapter's setup runs as the session's provisioning step;
// solutions run in the learner's jailed shell with the learner's
// credentials.
func labsTest(ctx context.Context, cat labshell.Chapters, chapters []*labs.Chapter, lt labsTestConfig, stdout, stderr io.Writer) error {
	if len(chapters) == 0 {
		fmt.Fprintf(stdout, "no chapter to prove on --sandbox=%s\n", lt.Sandbox)
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tmp, err := os.MkdirTemp("", "kubelab-labs-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	st, closeStore, _, err := openStore(ctx, commonConfig{DataDir: tmp}, log)
	if err != nil {
		return err
	}
	defer closeStore()

	var (
		prov           sandbox.Provisioner
		admin          *rest.Config // kubelab's credential on the shared cluster; nil: each sandbox's own
		clusterBackend string       // the backend of cluster sandboxes, when not lt.Sandbox
	)
	if lt.Sandbox == "kind" {
		if err := kindcluster.CheckDocker(ctx); err != nil {
			return err
		}
		kinds := kindcluster.New(kindcluster.Options{Dir: filepath.Join(tmp, "kind"), Image: lt.KindImage, Instance: instanceOf(tmp), Log: log})
		defer kinds.Close()
		prov = kinds
	} else {
		cl, err := simcluster.Start(ctx, simcluster.Options{DataDir: filepath.Join(tmp, "cluster"), Log: log})
		if err != nil {
			return fmt.Errorf("start simulated cluster: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = cl.Stop(sctx)
		}()
		admin = cl.AdminConfig()
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		own := childcluster.New(childcluster.Options{Dir: filepath.Join(tmp, "clusters"), Command: []string{exe},
			Nodes: labs.DefaultNodes, Log: log})
		defer own.Close()
		prov, clusterBackend = sandbox.Split{
			Namespaces: namespaced.New(namespaced.Options{Config: admin, Simulated: true, Log: log, Instance: "labs-test"}),
			Clusters:   own,
		}, "simcluster"
	}
	j, err := newJails(log)
	if err != nil {
		return err
	}
	mgr := sandbox.NewManager(sandbox.ManagerOptions{
		Provisioner: prov, Store: st, Log: log, Simulated: admin != nil, Backend: lt.Sandbox, ClusterBackend: clusterBackend,
		Prepare:    labshell.Setup(cat, j, prov),
		MaxPerUser: 1 << 20, MaxTotal: 1 << 20, Tick: 100 * time.Millisecond,
	})
	mctx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	managerDone := make(chan error, 1)
	go func() { managerDone <- mgr.Run(mctx) }()
	defer func() {
		// Let the last chapter's sandbox go before the cluster stops (a
		// kind cluster takes a few seconds to delete).
		for deadline := time.Now().Add(time.Minute); mgr.PendingDeletes() > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		stopManager()
		<-managerDone
	}()

	_, err = labtest.Run(ctx, labtest.Options{
		Chapters: chapters, Out: stdout,
		NewSandbox: func(ctx context.Context, ch *labs.Chapter) (labtest.Env, func(), error) {
			ss, err := mgr.Start(ctx, "labs-test", labshell.ChapterSpec(ch))
			if err != nil {
				return labtest.Env{}, nil, err
			}
			cleanup := func() { _ = mgr.End(context.WithoutCancel(ctx), ss.ID) }
			if ss, err = waitReady(ctx, mgr, ss.ID); err != nil {
				cleanup()
				return labtest.Env{}, nil, err
			}
			sb, err := mgr.Sandbox(ctx, ss.ID)
			if err != nil {
				cleanup()
				return labtest.Env{}, nil, err
			}
			target, err := labshell.GraderTarget(admin, sb)
			if err != nil {
				cleanup()
				return labtest.Env{}, nil, err
			}
			return labtest.Env{Target: target, Runner: jailRunner{j: j, spec: labshell.Spec(ss.ID, ch.ID, sb)}}, cleanup, nil
		},
	})
	return err
}

// waitReady waits for a session to leave provisioning; a failed one is an
// error carrying the learner's sentence (the log has the detail).
func waitReady(ctx context.Context, mgr *sandbox.Manager, id string) (sandbox.Session, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ss, err := mgr.Session(ctx, id)
		if err != nil {
			return ss, err
		}
		switch ss.Status {
		case sandbox.StatusReady:
			return ss, nil
		case sandbox.StatusProvisioning, sandbox.StatusQueued:
		default:
			return ss, fmt.Errorf("session %s: %s: %s", id, ss.Status, ss.Reason)
		}
		select {
		case <-ctx.Done():
			return ss, ctx.Err()
		case <-tick.C:
		}
	}
}

type jailRunner struct {
	j    *jail.Jail
	spec jail.Spec
}

func (r jailRunner) Run(ctx context.Context, script string) ([]byte, error) {
	return r.j.Run(ctx, r.spec, script)
}
