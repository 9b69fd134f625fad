-- Accounts: users (email+password accounts and guests), cookie login
-- sessions and bearer API tokens. Only hashes of secrets are stored.
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Normalised to lowercase by the server; NULL for guests.
    email         text        NULL UNIQUE CHECK (email = lower(email)),
    name          text        NOT NULL DEFAULT '',
    password_hash text        NOT NULL DEFAULT '',
    is_admin      boolean     NOT NULL DEFAULT false,
    is_guest      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (is_guest OR email IS NOT NULL)
);

CREATE TABLE login_sessions (
    token_hash   bytea       PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- The reaper deletes sessions past their absolute expiry.
CREATE INDEX login_sessions_expires_at_idx ON login_sessions (expires_at);
CREATE INDEX login_sessions_user_id_idx ON login_sessions (user_id);

CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL DEFAULT '',
    token_hash   bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NULL
);

CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
