package grader

import "context"

// EvaluateFromCaches starts the informers Watch would start and returns a
// function that grades every task from their caches, as Watch does after a
// change, and a stop function. For benchmarks.
func (p *Program) EvaluateFromCaches(ctx context.Context, t Target) (eval func() []TaskResult, stop func(), err error) {
	in, err := p.startInformers(ctx, t, func(map[int]bool) {})
	if err != nil {
		return nil, nil, err
	}
	in.waitSynced(ctx)
	return func() []TaskResult {
		out := make([]TaskResult, len(p.tasks))
		for i, ct := range p.tasks {
			out[i] = p.evalTask(ctx, t, in.sources(t), ct)
		}
		return out
	}, in.stop, nil
}
