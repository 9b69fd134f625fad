-- After an attempt, one of its tasks can be retried alone, with the same
-- drawn values, in a fresh sandbox: an attempt of its own, naming the
-- task and the attempt it retries.
ALTER TABLE exam_attempts ADD COLUMN task text NOT NULL DEFAULT '';
ALTER TABLE exam_attempts ADD COLUMN retry_of text NULL REFERENCES exam_attempts (id) ON DELETE CASCADE;
