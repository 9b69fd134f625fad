package sandbox

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

const (
	destroyWorkers  = 2
	destroyTimeout  = time.Minute
	destroyAttempts = 5
)

// destroyQueue holds the sandboxes waiting for deletion, so that a slow
// backend (a kind cluster takes seconds) never stalls admission, refill or
// reaping. Failed deletions are retried with backoff; what is left when
// kubelab stops is found by the next start's reconcile.
type destroyQueue struct {
	mu      sync.Mutex
	pending []string
	queued  map[string]bool
	signal  chan struct{}
}

func (q *destroyQueue) init() {
	q.queued = map[string]bool{}
	q.signal = make(chan struct{}, 1)
}

func (q *destroyQueue) add(id string) {
	q.mu.Lock()
	if !q.queued[id] {
		q.queued[id] = true
		q.pending = append(q.pending, id)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *destroyQueue) take() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return "", false
	}
	id := q.pending[0]
	q.pending = q.pending[1:]
	delete(q.queued, id)
	if len(q.pending) > 0 { // let another worker start on the next one
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return id, true
}

// Len is how many sandboxes wait for deletion.
func (q *destroyQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// work deletes queued sandboxes until ctx ends.
func (q *destroyQueue) work(ctx context.Context, p Provisioner, log *slog.Logger) {
	for {
		id, ok := q.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.signal:
				continue
			}
		}
		backoff := 500 * time.Millisecond
		for attempt := 1; ; attempt++ {
			dctx, cancel := context.WithTimeout(ctx, destroyTimeout)
			err := p.Destroy(dctx, id)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			if attempt == destroyAttempts {
				log.Error("delete sandbox: giving up until the next start", "sandbox_id", id, "err", err)
				break
			}
			log.Warn("delete sandbox; retrying", "sandbox_id", id, "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff *= 2
		}
	}
}

// PendingDeletes reports how many sandboxes wait for deletion.
func (m *Manager) PendingDeletes() int { return m.destroys.Len() }
