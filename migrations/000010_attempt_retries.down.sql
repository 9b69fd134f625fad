ALTER TABLE exam_attempts DROP COLUMN retry_of;
ALTER TABLE exam_attempts DROP COLUMN task;
