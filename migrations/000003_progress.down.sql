DROP TABLE IF EXISTS task_results;
