ALTER TABLE task_results DROP COLUMN solution_revealed_at;
