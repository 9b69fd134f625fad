-- A learner may reveal a task's solution; when, is part of their progress
-- (instructors see it). A reveal before any grading makes the row.
ALTER TABLE task_results ADD COLUMN solution_revealed_at timestamptz NULL;
