-- Ids handed out once, ever: SQLite's INTEGER PRIMARY KEY reuses the largest id after it is
-- deleted, so a retried delete, a stale confirmation page or a script holding an old id would
-- reach a newer import (or API token). Each table's last id handed out lives here; new rows take
-- the next one, above both this and the table's largest id (rows restored with their ids).
CREATE TABLE id_sequences (
    name TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
INSERT INTO id_sequences (name, last) SELECT 'imports', COALESCE(MAX(id), 0) FROM imports;
INSERT INTO id_sequences (name, last) SELECT 'api_tokens', COALESCE(MAX(id), 0) FROM api_tokens;
