-- Progress keeps the best grade of every task, not the latest: a learner's
-- later work (cleaning up, reusing names) must not take credit away.
-- passed now means "passed at least once" and score is the best score
-- reached. Rows written before this version keep their latest score (the
-- best one was not recorded) but count as passed once they passed.
UPDATE task_results SET passed = true WHERE first_passed_at IS NOT NULL;

ALTER TABLE task_results
    -- Partial scores are fractions of points (2 of 3 checks of 2 points is
    -- 1.33...); real rounded them, so sums printed as 2.0 instead of 2.
    ALTER COLUMN score TYPE double precision,
    ADD CONSTRAINT task_results_passed_check CHECK (passed = (first_passed_at IS NOT NULL));
