DROP TABLE sandbox_sessions;
