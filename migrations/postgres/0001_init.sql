-- The PostgreSQL store: the same tables as SQLite's, with native types.
-- Imports: one row per imported file. Deleting an import deletes the escalations it last wrote.
CREATE TABLE imports (
    id            BIGSERIAL PRIMARY KEY,
    source        TEXT        NOT NULL,
    format        TEXT        NOT NULL,
    encoding      TEXT        NOT NULL,
    imported_at   TIMESTAMPTZ NOT NULL,
    rows_imported BIGINT      NOT NULL,
    rows_replaced BIGINT      NOT NULL,
    rows_rejected BIGINT      NOT NULL
);

CREATE TABLE escalations (
    id        BIGSERIAL PRIMARY KEY,
    import_id BIGINT   NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    ticket    TEXT UNIQUE,            -- the source system's key; NULL rows are appended
    client    TEXT     NOT NULL,
    product   TEXT     NOT NULL,
    region    TEXT     NOT NULL,
    severity  SMALLINT NOT NULL CHECK (severity BETWEEN 1 AND 4),
    opened    DATE     NOT NULL,
    closed    DATE,
    status    TEXT,
    summary   TEXT,
    email     TEXT,
    phone     TEXT
);
CREATE INDEX escalations_import_id ON escalations (import_id);

-- Accounts, sessions and API tokens. Secrets are never stored: passwords as argon2id PHC strings,
-- session and token values as SHA-256 hex digests of the random value the client holds.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    password_hash TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_name ON users (lower(name));

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL  -- idle expiry is measured from here
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_tokens (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label      TEXT        NOT NULL,
    token_hash TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    last_used  TIMESTAMPTZ
);

-- State every instance shares: the signing key, failed logins (so a brute-force attempt gets no
-- more tries from a load balancer spreading it over several instances).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE login_failures (
    key TEXT        NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);
