-- Saved views: a name and the dashboard's state (its query string), kept for their owner or shared
-- with everyone. Names are unique without regard to case, so `--view NAME` always means one view.
CREATE TABLE saved_views (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    owner      TEXT,
    shared     BOOLEAN NOT NULL,
    query      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX saved_views_name ON saved_views (lower(name));
