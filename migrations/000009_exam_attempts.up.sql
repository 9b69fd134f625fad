-- A timed practice-exam attempt. Its tasks are drawn from the exam's bank
-- by seed, so the row holds the seed, not the tasks. The deadline lives
-- here: a reload, another browser or a restart never moves it. review is
-- the final grading (JSON), written once when the attempt finishes; marks
-- are the candidate's flags and notes per task.
CREATE TABLE exam_attempts (
    id          text        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exam        text        NOT NULL,
    seed        bigint      NOT NULL,
    session_id  text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('provisioning', 'running', 'finished', 'failed')),
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz NULL,
    deadline    timestamptz NULL,
    finished_at timestamptz NULL,
    score       real        NOT NULL DEFAULT 0,
    max_score   integer     NOT NULL DEFAULT 0,
    passed      boolean     NOT NULL DEFAULT false,
    review      jsonb       NULL,
    marks       jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX exam_attempts_user_idx ON exam_attempts (user_id, exam, created_at);
-- The deadline watch asks for running attempts whose time is up.
CREATE INDEX exam_attempts_due_idx ON exam_attempts (deadline) WHERE status = 'running';
