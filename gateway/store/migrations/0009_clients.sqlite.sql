-- creditgw schema v9 (SQLite): API clients, their secrets, used nonces and the audit of calls that
-- change state (docs/signing.md, docs/adr/0017-client-secrets-sealed-at-rest.md). In the database,
-- not in a file, so every replica sees the same clients and the same used nonces.
CREATE TABLE clients (
    client_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    authorities TEXT NOT NULL,
    categories TEXT NOT NULL,
    cert_subject TEXT,
    rate_per_s INTEGER,
    burst INTEGER,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX clients_cert_subject ON clients (cert_subject) WHERE cert_subject IS NOT NULL;
-- At most two active secrets per client (rotation without downtime), each sealed with AES-GCM
-- under the gateway's secrets key: the plain secret is shown once, at creation or rotation.
CREATE TABLE client_secrets (
    client_id TEXT NOT NULL,
    secret_id INTEGER NOT NULL,
    sealed TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT,
    PRIMARY KEY (client_id, secret_id)
);
-- A nonce is accepted once per client: the primary key refuses the second use on any replica.
-- Rows are purged after expires_at (timestamp + window), when the timestamp check refuses anyway.
CREATE TABLE nonces (
    client_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (client_id, nonce)
);
CREATE INDEX nonces_expires ON nonces (expires_at);
CREATE TABLE call_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    client_id TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX call_audit_client ON call_audit (client_id, id);
