-- A sandbox that is a cluster of the learner's own (size class 'cluster')
-- records the chapter's node layout, so a sandbox made again after a
-- restart has the same nodes.
ALTER TABLE sandbox_sessions ADD COLUMN nodes text[] NOT NULL DEFAULT '{}';
