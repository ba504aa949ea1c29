-- Imports: one row per imported file. Deleting an import deletes the escalations it last wrote.
CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    source        TEXT    NOT NULL,
    format        TEXT    NOT NULL,
    encoding      TEXT    NOT NULL,
    imported_at   TEXT    NOT NULL,  -- RFC 3339, UTC
    rows_imported INTEGER NOT NULL,
    rows_replaced INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL
);

CREATE TABLE escalations (
    id        INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    ticket    TEXT UNIQUE,            -- the source system's key; NULL rows are appended
    client    TEXT    NOT NULL,
    product   TEXT    NOT NULL,
    region    TEXT    NOT NULL,
    severity  INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
    opened    TEXT    NOT NULL,       -- YYYY-MM-DD
    closed    TEXT,
    status    TEXT,
    summary   TEXT,
    email     TEXT,
    phone     TEXT
);

CREATE INDEX escalations_import_id ON escalations (import_id);
