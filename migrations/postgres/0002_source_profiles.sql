-- Source profiles: a named mapping (columns, severity values, date order) for files whose header
-- the defaults do not read, reused when a file with the same header comes again.
CREATE TABLE source_profiles (
    name       TEXT NOT NULL,
    header     TEXT NOT NULL,  -- the header's comparison keys, joined by U+001F
    mapping    TEXT NOT NULL,  -- JSON
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX source_profiles_name ON source_profiles (lower(name));
CREATE INDEX source_profiles_header ON source_profiles (header);
