-- Subscriptions: a user's digest of a view (or the whole dashboard) on a schedule, by e-mail.
CREATE TABLE subscriptions (
    id         BIGSERIAL PRIMARY KEY,
    "user"     TEXT NOT NULL,
    view       TEXT,
    schedule   TEXT NOT NULL,
    tz         TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- One row per subscription and slot: claimed with a lease, sent once, or failed and retried.
CREATE TABLE deliveries (
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    slot        TIMESTAMPTZ NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    next_try    TIMESTAMPTZ NOT NULL,
    last_error  TEXT,
    sent_at     TIMESTAMPTZ,
    PRIMARY KEY (subscription_id, slot)
);
