-- Progress: the latest grade of every task a user has worked on. A row is
-- written when the grader reports a task's result; first_seen_at and
-- first_passed_at give the time a task took (time to pass), and checks_run
-- counts how often it was graded.
CREATE TABLE task_results (
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chapter         text        NOT NULL,
    task            text        NOT NULL,
    passed          boolean     NOT NULL DEFAULT false,
    score           real        NOT NULL DEFAULT 0 CHECK (score >= 0),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    first_passed_at timestamptz NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    checks_run      integer     NOT NULL DEFAULT 1,
    PRIMARY KEY (user_id, chapter, task)
);

-- Admin views list the progress of a chapter across users.
CREATE INDEX task_results_chapter_idx ON task_results (chapter, task);
