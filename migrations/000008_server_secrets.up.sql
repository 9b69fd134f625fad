-- Keys kubelab makes once and keeps, shared by every kubelab process on the
-- database: the key that signs the tokens of downloaded kubeconfigs, so that
-- a kubeconfig keeps working across restarts.
CREATE TABLE server_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
