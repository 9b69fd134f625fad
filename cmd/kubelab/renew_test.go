package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recordingShell records the tokens it is given and exits when told.
type recordingShell struct {
	mu     sync.Mutex
	tokens []string
	exit   chan struct{}
}

func (r *recordingShell) SetToken(tok string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, tok)
	return nil
}

func (r *recordingShell) Wait() error { <-r.exit; return nil }

func (r *recordingShell) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

func TestRenewShellToken(t *testing.T) {
	t.Parallel()
	sh := &recordingShell{exit: make(chan struct{})}
	// The sandbox's token over time: a failure, the same token twice, a new one.
	answers := make(chan func() (string, error), 10)
	for _, a := range []func() (string, error){
		func() (string, error) { return "", errors.New("api down") },
		func() (string, error) { return "t1", nil },
		func() (string, error) { return "t1", nil },
		func() (string, error) { return "t2", nil },
	} {
		answers <- a
	}
	asked := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		renewShellToken(t.Context(), sh, time.Millisecond, func(context.Context) (string, error) {
			defer func() { asked <- struct{}{} }()
			select {
			case a := <-answers:
				return a()
			default:
				return "t2", nil
			}
		}, slog.New(slog.DiscardHandler))
		close(done)
	}()
	for range 5 {
		<-asked
	}
	close(sh.exit)
	<-done // it stops when the shell exits
	if diff := cmp.Diff([]string{"t1", "t2"}, sh.got()); diff != "" {
		t.Errorf("tokens set (-want +got):\n%s", diff)
	}
}
