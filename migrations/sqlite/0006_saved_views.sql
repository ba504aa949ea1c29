-- Saved views: a name and the dashboard's state (its query string), kept for their owner or shared
-- with everyone. Names are unique without regard to case, so `--view NAME` always means one view.
CREATE TABLE saved_views (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    owner      TEXT,              -- the user's name; NULL when saved without an account
    shared     INTEGER NOT NULL,  -- 1: listed for everyone; 0: for its owner only
    query      TEXT NOT NULL,     -- the dashboard's query string, canonical
    created_at TEXT NOT NULL      -- RFC 3339, UTC
);
