-- What an index in memory needs to follow the store without reading it all again: the generation
-- (the store's change count) each import committed at, and the escalations each delete removed.
-- An index at generation g takes in the rows of the imports committed after g and retires the
-- ids deleted after g. Deletions are kept for the last 1,000 generations; `rebuild_from` is the
-- oldest generation an index can still catch up from (older ones, and every index after a
-- restore, read the whole store). Imports from before this migration count as generation 0, and
-- `rebuild_from` starts at the current generation.
ALTER TABLE imports ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE TABLE retired (
    generation INTEGER NOT NULL,
    id         INTEGER NOT NULL
);
CREATE INDEX retired_generation ON retired (generation);
INSERT INTO settings (key, value)
    SELECT 'rebuild_from', COALESCE((SELECT value FROM settings WHERE key = 'generation'), '0')
    WHERE true
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
