-- A chapter may give the learner further clusters of their own beside the
-- primary one (each a kubeconfig context named after it); the session
-- records their names, so a sandbox made again has them too.
ALTER TABLE sandbox_sessions ADD COLUMN clusters text[] NOT NULL DEFAULT '{}';
