-- Sandboxes: one row per learner chapter session and the sandbox that serves
-- it, so the sandbox manager can resume, queue and reap after a restart.
-- status: queued → provisioning → ready → expired | ended, or failed.
-- sandbox_id names the provisioner's sandbox and changes on reset.
CREATE TABLE sandbox_sessions (
    id          text        PRIMARY KEY,
    owner       text        NOT NULL,
    chapter     text        NOT NULL,
    size        text        NOT NULL DEFAULT '',
    extra       text[]      NOT NULL DEFAULT '{}',
    status      text        NOT NULL CHECK (status IN ('queued', 'provisioning', 'ready', 'failed', 'expired', 'ended')),
    reason      text        NOT NULL DEFAULT '',
    backend     text        NOT NULL,
    sandbox_id  text        NOT NULL DEFAULT '',
    namespace   text        NOT NULL DEFAULT '',
    namespaces  jsonb       NOT NULL DEFAULT '{}',
    simulated   boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    ready_at    timestamptz NULL,
    expires_at  timestamptz NOT NULL,
    active_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The manager lists live sessions by status (reaper, queue) and by owner.
CREATE INDEX sandbox_sessions_status_idx ON sandbox_sessions (status, created_at)
    WHERE status IN ('queued', 'provisioning', 'ready');
CREATE INDEX sandbox_sessions_owner_idx ON sandbox_sessions (owner, created_at);
-- At most one live session per learner and chapter.
CREATE UNIQUE INDEX sandbox_sessions_live_idx ON sandbox_sessions (owner, chapter)
    WHERE status IN ('queued', 'provisioning', 'ready');
