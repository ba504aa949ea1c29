-- A subscription goes to an e-mail address or to a webhook (with the secret that signs its bodies).
ALTER TABLE subscriptions ALTER COLUMN email DROP NOT NULL;
ALTER TABLE subscriptions ADD COLUMN webhook TEXT;
ALTER TABLE subscriptions ADD COLUMN secret TEXT;
ALTER TABLE subscriptions ADD CHECK ((email IS NULL) <> (webhook IS NULL));

-- Alerts: a user's standing question, answered after each committed import.
CREATE TABLE alerts (
    id         BIGSERIAL PRIMARY KEY,
    "user"     TEXT NOT NULL,
    kinds      TEXT NOT NULL,
    query      TEXT NOT NULL,
    min_score  DOUBLE PRECISION NOT NULL,
    email      TEXT,
    webhook    TEXT,
    secret     TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK ((email IS NULL) <> (webhook IS NULL))
);
-- One message per alert and batch of new findings: claimed with a lease, sent once, or retried.
CREATE TABLE alert_messages (
    id          BIGSERIAL PRIMARY KEY,
    alert_id    BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    next_try    TIMESTAMPTZ NOT NULL,
    last_error  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ
);
CREATE INDEX alert_messages_pending ON alert_messages (next_try) WHERE state <> 'sent';
-- Every finding (kind, slice, period) an alert has seen, once.
CREATE TABLE alert_findings (
    alert_id   BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    finding    TEXT NOT NULL,
    message_id BIGINT REFERENCES alert_messages (id) ON DELETE SET NULL,
    PRIMARY KEY (alert_id, finding)
);
