-- Tickets compare byte by byte (COLLATE "C"). Equality is the same under every deterministic
-- collation, so the unique key keeps its meaning; building and probing its index no longer goes
-- through the locale's collation, which cost a bulk load about half a second per million rows.
ALTER TABLE escalations ALTER COLUMN ticket TYPE TEXT COLLATE "C";
