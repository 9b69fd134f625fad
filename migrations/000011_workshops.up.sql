-- Instructor-led workshops ("events" in the API and pages). An instructor
-- makes a workshop; learners join it with its shared join code or a
-- one-time seat code; the instructor watches their progress (task_results)
-- live. Only hashes of seat codes are kept; the join code is shown to the
-- instructor again, so it is kept as is.
ALTER TABLE users ADD COLUMN is_instructor boolean NOT NULL DEFAULT false;

CREATE TABLE workshops (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title               text        NOT NULL CHECK (title <> ''),
    chapters            text[]      NOT NULL CHECK (cardinality(chapters) > 0),
    seats               integer     NOT NULL CHECK (seats > 0),
    starts_at           timestamptz NULL,
    ends_at             timestamptz NULL CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    session_ttl_minutes integer     NOT NULL DEFAULT 0 CHECK (session_ttl_minutes >= 0),
    join_code           text        NOT NULL UNIQUE,
    banner              text        NOT NULL DEFAULT '',
    banner_at           timestamptz NULL,
    -- Set once its learners' labs were ended; results stay.
    ended_at            timestamptz NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX workshops_owner_idx ON workshops (owner_id, created_at);
-- The end watch asks for workshops past their end whose labs still run.
CREATE INDEX workshops_due_idx ON workshops (ends_at) WHERE ended_at IS NULL;

CREATE TABLE workshop_learners (
    workshop_id uuid        NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workshop_id, user_id)
);

CREATE INDEX workshop_learners_user_idx ON workshop_learners (user_id);

CREATE TABLE workshop_seat_codes (
    code_hash   bytea       PRIMARY KEY,
    workshop_id uuid        NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_by     uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    used_at     timestamptz NULL
);

-- A raised hand: what the learner was on when they asked for help.
CREATE TABLE workshop_hands (
    workshop_id   uuid        NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    raised_at     timestamptz NOT NULL DEFAULT now(),
    chapter       text        NOT NULL DEFAULT '',
    task          text        NOT NULL DEFAULT '',
    check_message text        NOT NULL DEFAULT '',
    message       text        NOT NULL DEFAULT '',
    commands      text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (workshop_id, user_id)
);

-- What an instructor did to a learner's lab or terminal; the learner is
-- shown it too.
CREATE TABLE workshop_audit (
    id          bigserial   PRIMARY KEY,
    workshop_id uuid        NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    actor_id    uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    learner_id  uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    action      text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX workshop_audit_idx ON workshop_audit (workshop_id, at);
