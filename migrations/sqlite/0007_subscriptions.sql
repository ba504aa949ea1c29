-- Subscriptions: a user's digest of a view (or the whole dashboard) on a schedule, by e-mail.
CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user       TEXT NOT NULL,
    view       TEXT,              -- a saved view's name; NULL for the whole dashboard
    schedule   TEXT NOT NULL,     -- 'weekly mon 08:00'
    tz         TEXT NOT NULL,     -- IANA name
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL   -- microseconds since the epoch, UTC
);
-- One row per subscription and slot: claimed with a lease, sent once, or failed and retried.
CREATE TABLE deliveries (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    slot        INTEGER NOT NULL,  -- microseconds since the epoch, UTC
    state       TEXT NOT NULL,     -- 'sending', 'sent', 'failed'
    attempts    INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    next_try    INTEGER NOT NULL,
    last_error  TEXT,
    sent_at     INTEGER,
    PRIMARY KEY (subscription_id, slot)
);
