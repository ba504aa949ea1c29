-- State every server process shares: settings (such as a signing key) and failed logins, so a
-- restart does not hand a brute-force attempt a fresh allowance.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at  INTEGER NOT NULL  -- microseconds since the Unix epoch
);
CREATE INDEX login_failures_key ON login_failures (key, at);
