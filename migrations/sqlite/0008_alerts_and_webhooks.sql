-- A subscription goes to an e-mail address or to a webhook (with the secret that signs its
-- bodies): `email` may now be NULL. SQLite cannot relax NOT NULL in place, so the table is built
-- anew, with its deliveries (which refer to it), ids kept.
CREATE TABLE subscriptions_next (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user       TEXT NOT NULL,
    view       TEXT,
    schedule   TEXT NOT NULL,
    tz         TEXT NOT NULL,
    email      TEXT,
    webhook    TEXT,
    secret     TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((email IS NULL) <> (webhook IS NULL))
);
INSERT INTO subscriptions_next (id, user, view, schedule, tz, email, created_at)
    SELECT id, user, view, schedule, tz, email, created_at FROM subscriptions;
CREATE TABLE deliveries_next (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions_next (id) ON DELETE CASCADE,
    slot        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    next_try    INTEGER NOT NULL,
    last_error  TEXT,
    sent_at     INTEGER,
    PRIMARY KEY (subscription_id, slot)
);
INSERT INTO deliveries_next SELECT * FROM deliveries;
DROP TABLE deliveries;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_next RENAME TO subscriptions;
ALTER TABLE deliveries_next RENAME TO deliveries;

-- Alerts: a user's standing question ("new findings of these kinds in this slice, this urgent"),
-- answered after each committed import.
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user       TEXT NOT NULL,
    kinds      TEXT NOT NULL,     -- 'spike,emerging'; '' for every kind
    query      TEXT NOT NULL,     -- the slice constraint, as the dashboard's filters
    min_score  REAL NOT NULL,
    email      TEXT,
    webhook    TEXT,
    secret     TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((email IS NULL) <> (webhook IS NULL))
);
-- One message per alert and batch of new findings: claimed with a lease, sent once, or failed
-- and retried. `payload` is the webhook body, from which the mail is written too.
CREATE TABLE alert_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,     -- 'queued', 'sending', 'sent', 'failed'
    attempts    INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    next_try    INTEGER NOT NULL,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
);
-- Every finding (kind, slice, period) an alert has seen, once: the key of its exactly-once.
CREATE TABLE alert_findings (
    alert_id   INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    finding    TEXT NOT NULL,
    message_id INTEGER REFERENCES alert_messages (id) ON DELETE SET NULL,
    PRIMARY KEY (alert_id, finding)
);
