-- An import's rows no longer carry a foreign key to their import. The check ran a trigger for every
-- row a merge wrote (a third of a million-row import's time). The store keeps the relation itself:
-- an import's row is written only inside that import's transaction, after its `imports` row, and
-- `delete_import` deletes the rows before the import, in one transaction.
ALTER TABLE escalations DROP CONSTRAINT IF EXISTS escalations_import_id_fkey;
