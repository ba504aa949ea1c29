//! Bulk writes: rows buffered and sent with binary `COPY` into a staging table, merged into
//! `escalations` in the import's one transaction.

use std::time::Instant;

use postgres::Transaction;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};

use super::{COPY_BATCH, col, count, notify, sql_count};
use crate::domain::{NewEscalation, Text};
use crate::store::{Committed, ImportRecord, ImportTx, StoreError, Written};

// ----- bulk writes -----

pub(super) const ESCALATION_COLUMNS: &str =
    "ticket, client, product, region, severity, opened, closed, status, summary, email, phone";
pub(super) const ESCALATION_TYPES: [Type; 11] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::DATE,
    Type::DATE,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Sends rows with a binary `COPY`; `lead` are the columns before the escalation's own (a
/// sequence number for the staging table, ids for a restore).
pub(super) fn copy_rows(
    tx: &mut Transaction<'_>,
    table: &str,
    lead: &[(&str, Type)],
    rows: &[(Vec<i64>, NewEscalation)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let lead_names: Vec<&str> = lead.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "COPY {table} ({}, {ESCALATION_COLUMNS}) FROM STDIN (FORMAT binary)",
        lead_names.join(", ")
    );
    let types: Vec<Type> = lead
        .iter()
        .map(|(_, t)| t.clone())
        .chain(ESCALATION_TYPES.iter().cloned())
        .collect();
    let mut w = BinaryCopyInWriter::new(tx.copy_in(&sql)?, &types);
    for (ids, r) in rows {
        let opt = |t: &Option<Text>| t.as_ref().map(|t| t.as_str().to_owned());
        let (ticket, status, summary, email, phone) = (
            opt(&r.ticket),
            opt(&r.status),
            opt(&r.summary),
            opt(&r.email),
            opt(&r.phone),
        );
        let severity = i16::from(r.severity.score());
        let (client, product, region) = (r.client.as_str(), r.product.as_str(), r.region.as_str());
        let mut values: Vec<&(dyn ToSql + Sync)> = ids.iter().map(|i| i as _).collect();
        values.extend_from_slice(&[
            &ticket, &client, &product, &region, &severity, &r.opened, &r.closed, &status,
            &summary, &email, &phone,
        ]);
        w.write(&values)?;
    }
    w.finish()?;
    Ok(())
}

pub(super) struct PgImport<'c> {
    tx: Transaction<'c>,
    /// The import's row as first written; the counts are filled in at commit.
    record: ImportRecord,
    import_id: i64,
    buffer: Vec<(Vec<i64>, NewEscalation)>,
    seq: i64,
}

impl<'c> PgImport<'c> {
    /// Starts writing the import `record` (already inserted) into its transaction: the staging
    /// table, dropped at commit.
    pub(super) fn begin(mut tx: Transaction<'c>, record: ImportRecord) -> Result<Self, StoreError> {
        tx.batch_execute(
            "CREATE TEMP TABLE escamap_staging (
                seq BIGINT NOT NULL, ticket TEXT, client TEXT NOT NULL, product TEXT NOT NULL,
                region TEXT NOT NULL, severity SMALLINT NOT NULL, opened DATE NOT NULL, closed DATE,
                status TEXT, summary TEXT, email TEXT, phone TEXT
             ) ON COMMIT DROP",
        )?;
        Ok(Self {
            tx,
            import_id: record.id,
            record,
            buffer: Vec::with_capacity(COPY_BATCH),
            seq: 0,
        })
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        copy_rows(
            &mut self.tx,
            "escamap_staging",
            &[("seq", Type::INT8)],
            &self.buffer,
        )?;
        self.buffer.clear();
        Ok(())
    }
}

impl ImportTx for PgImport<'_> {
    fn write(&mut self, row: &NewEscalation) -> Result<Written, StoreError> {
        self.seq += 1;
        self.buffer.push((vec![self.seq], row.clone()));
        if self.buffer.len() >= COPY_BATCH {
            self.flush()?;
        }
        // Rows are copied to a staging table and merged at the commit: their ids come then.
        Ok(Written::Pending)
    }

    fn commit(mut self: Box<Self>, rejected: u64) -> Result<Committed, StoreError> {
        let started = Instant::now();
        self.flush()?;
        let mut this = *self;
        let tx = &mut this.tx;
        // A row replaces when its ticket is stored already or came earlier in this file:
        // every row with a ticket, less one per ticket that is new to the store.
        let counts = tx.query_one(
            "SELECT count(*), count(ticket), count(DISTINCT ticket),
                    (SELECT count(*) FROM (SELECT DISTINCT ticket FROM escamap_staging) s
                      WHERE EXISTS (SELECT 1 FROM escalations e WHERE e.ticket = s.ticket))
             FROM escamap_staging",
            &[],
        )?;
        let (imported, with_ticket, distinct, stored): (i64, i64, i64, i64) = (
            col(&counts, 0)?,
            col(&counts, 1)?,
            col(&counts, 2)?,
            col(&counts, 3)?,
        );
        let replaced = with_ticket - (distinct - stored);
        let staged = started.elapsed();
        // Only a file that repeats a ticket needs the (costly) pass that keeps its last row.
        let rows = if distinct == with_ticket {
            "escamap_staging"
        } else {
            "(SELECT s.*, row_number() OVER (PARTITION BY ticket ORDER BY seq DESC) AS last
              FROM escamap_staging s) s WHERE ticket IS NULL OR last = 1"
        };
        tx.execute(
            &format!(
                "INSERT INTO escalations (import_id, {ESCALATION_COLUMNS})
                 SELECT $1, {ESCALATION_COLUMNS} FROM {rows}
                 ORDER BY seq
                 ON CONFLICT (ticket) DO UPDATE SET
                     import_id = EXCLUDED.import_id, client = EXCLUDED.client,
                     product = EXCLUDED.product, region = EXCLUDED.region,
                     severity = EXCLUDED.severity, opened = EXCLUDED.opened,
                     closed = EXCLUDED.closed, status = EXCLUDED.status,
                     summary = EXCLUDED.summary, email = EXCLUDED.email, phone = EXCLUDED.phone"
            ),
            &[&this.import_id],
        )?;
        tx.execute(
            "UPDATE imports SET rows_imported = $1, rows_replaced = $2, rows_rejected = $3 WHERE id = $4",
            &[&imported, &replaced, &sql_count(rejected), &this.import_id],
        )?;
        let generation = notify(tx, &format!("import {}", this.import_id))?;
        tx.execute(
            "UPDATE imports SET generation = $1 WHERE id = $2",
            &[&sql_count(generation), &this.import_id],
        )?;
        // Every row this import wrote is still its own: one per new or replaced ticket, one per
        // row without a ticket.
        let record = ImportRecord {
            rows_imported: count(imported)?,
            rows_replaced: count(replaced)?,
            rows_rejected: rejected,
            rows_current: count(imported - with_ticket + distinct)?,
            ..this.record.clone()
        };
        this.tx.commit()?;
        tracing::debug!(
            rows = imported,
            staged_ms = staged.as_millis() as u64,
            merged_ms = (started.elapsed() - staged).as_millis() as u64,
            "import merged into escalations"
        );
        Ok(Committed { record, generation })
    }
}
