package sandbox

import (
	"context"
	"errors"
	"time"
)

// ErrStale reports that a conditional change did not apply: the session had
// moved on (ended, reset, admitted by someone else) since the caller read it.
var ErrStale = errors.New("session changed meanwhile")

// Record is a lab session's row in the store.
type Record struct {
	ID         string
	Owner      string
	Chapter    string
	Size       string   // size class; ClusterClass: a cluster of the learner's own
	Extra      []string // extra namespaces the chapter asks for (logical names)
	Nodes      []string // a cluster's node layout (nil: the provisioner's default)
	Clusters   []string // further clusters of the learner's own, by name
	Status     string
	Reason     string
	Backend    string
	SandboxID  string // the provisioner's id; changes on reset
	Namespace  string
	Namespaces map[string]string
	Simulated  bool
	CreatedAt  time.Time
	ReadyAt    time.Time
	ExpiresAt  time.Time
	ActiveAt   time.Time
}

// Filter selects records in Store.ListSandboxSessions. Empty fields match all.
type Filter struct {
	Owner    string
	Owners   []string // any of them (with Owner empty)
	Chapter  string
	Statuses []string
}

// Admission bounds Store.StartSandboxSession.
type Admission struct {
	MaxPerUser int // live and queued sessions per owner
	MaxTotal   int // live sessions overall; beyond it a new session is queued
	// MaxGuests bounds the live and queued sessions of guest accounts
	// overall (the store knows which owners are guests); a guest's start
	// beyond it gets ErrGuestCapacity. 0: no separate bound.
	MaxGuests int
}

// FinishIf narrows Store.FinishSandboxSession to expiry: zero fields do not
// restrict.
type FinishIf struct {
	ExpiredBy  time.Time // only if expires_at <= ExpiredBy
	IdleBefore time.Time // only if the session is ready and active_at <= IdleBefore
}

// Store keeps session records. server/store implements it. Every change is
// one conditional statement (or one transaction): it applies only while the
// session is in the state the caller expects, and otherwise returns an error
// wrapping ErrStale (or ErrNotFound for a missing id). Lists order by
// CreatedAt, ID.
type Store interface {
	// StartSandboxSession inserts r (status provisioning, or queued when
	// MaxTotal live sessions exist) unless the owner already has a live or
	// queued session of the chapter, which it returns with existing true. An
	// owner at MaxPerUser gets ErrCapacity; a guest past MaxGuests,
	// ErrGuestCapacity.
	StartSandboxSession(ctx context.Context, r Record, a Admission) (_ Record, existing bool, _ error)
	GetSandboxSession(ctx context.Context, id string) (Record, error)
	ListSandboxSessions(ctx context.Context, f Filter) ([]Record, error)
	// QueuePosition is the 1-based place of a queued session.
	QueuePosition(ctx context.Context, id string) (int, error)
	// AdmitQueuedSession moves a queued session to provisioning with a new
	// sandbox id and lifetime, if fewer than maxTotal sessions are live
	// (admitted false otherwise).
	AdmitQueuedSession(ctx context.Context, id, sandboxID string, now, expires time.Time, maxTotal int) (_ Record, admitted bool, _ error)
	// SetSessionReady moves a provisioning session whose sandbox is sandboxID to ready.
	SetSessionReady(ctx context.Context, id, sandboxID, namespace string, namespaces map[string]string, at time.Time) (Record, error)
	// FailSession moves a session in one of from whose sandbox is sandboxID to failed.
	FailSession(ctx context.Context, id, sandboxID string, from []string, reason string) (Record, error)
	// ReplaceSessionSandbox gives a provisioning session a new sandbox id.
	ReplaceSessionSandbox(ctx context.Context, id, oldSandboxID, newSandboxID string) (Record, error)
	// FinishSandboxSession moves a live or queued session to a terminal status.
	FinishSandboxSession(ctx context.Context, id, status, reason string, cond FinishIf) (Record, error)
	// ResetSandboxSession gives a ready, provisioning or failed session a new
	// sandbox (status provisioning) and returns the old sandbox id. An expiry
	// less than a minute away moves to now + ttl, never past CreatedAt + maxTTL.
	ResetSandboxSession(ctx context.Context, id, newSandboxID string, now time.Time, ttl, maxTTL time.Duration) (_ Record, oldSandboxID string, _ error)
	// ExtendSandboxSession pushes a live session's expiry by `by`, capped at
	// CreatedAt + maxTTL; ErrExtendLimit once the cap is reached.
	ExtendSandboxSession(ctx context.Context, id string, by, maxTTL time.Duration) (Record, error)
	// TouchSandboxSession records activity at `at` on a live session.
	TouchSandboxSession(ctx context.Context, id string, at time.Time) error
}
