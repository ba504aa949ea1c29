//! Bulk writes: rows encoded for binary `COPY` as they are written, and sent in the import's one
//! transaction by a thread of its own, so the database takes rows in while the file is read.
//!
//! - Into a table that holds rows, they are copied into a staging table and merged into
//!   `escalations` at the commit (a stored ticket is replaced; a file's last row for a ticket
//!   wins).
//! - Into an empty table (a first import, or the first after everything was deleted) they are
//!   copied straight into `escalations` with its indexes dropped, and the indexes are built again
//!   at the commit: one sort per index instead of an index probe per row, and no merge. A file
//!   that repeats a ticket fails the unique key at first; its earlier rows are then removed and
//!   the key built again. The table is locked meanwhile (readers wait until the commit), and only
//!   if nobody holds it: otherwise the import merges as usual.

use std::time::Instant;

use std::io::Write as _;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use bytes::{BufMut, Bytes, BytesMut};
use chrono::Utc;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, CopyInWriter, Transaction};

use super::{col, count, notify, sql_count};
use crate::domain::{NewEscalation, Text};
use crate::store::{
    Committed, ImportRecord, ImportTx, NewImport, StoreError, Written, to_micros as micros,
};

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

/// Rows for one `COPY table (lead..., escalation columns) FROM STDIN (FORMAT binary)`, encoded
/// as they are added, so nothing of a row is kept but its bytes; sent by [`CopyRows::send`].
///
/// Each value is encoded by its type's own `ToSql`; only the format's framing is written here
/// (a signature and two zero words, then per row a field count and each field's length before
/// its bytes, -1 for NULL, and a -1 field count to end). `postgres`'s `BinaryCopyInWriter` frames
/// the same way, but it must borrow the transaction while rows are written, so an import that
/// hands over one row at a time would have to keep a copy of every row until it is sent.
pub(super) struct CopyRows {
    sql: String,
    fields: i16,
    /// The one lead value of every row, where it is not the row's number.
    same_lead: Option<i64>,
    bytes: BytesMut,
    rows: usize,
}

/// The binary COPY signature, then the flags word and the header extension's length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

impl CopyRows {
    /// Rows for `table`, whose `lead` columns (of type `bigint`) come before the escalation's.
    pub(super) fn new(table: &str, lead: &[&str]) -> Self {
        Self {
            sql: format!(
                "COPY {table} ({}, {ESCALATION_COLUMNS}) FROM STDIN (FORMAT binary)",
                lead.join(", ")
            ),
            fields: (lead.len() + ESCALATION_TYPES.len()) as i16,
            same_lead: None,
            bytes: BytesMut::new(),
            rows: 0,
        }
    }

    /// Rows whose one lead column holds `value` in every row.
    fn with_lead(self, value: i64) -> Self {
        Self {
            same_lead: Some(value),
            ..self
        }
    }

    /// The lead value of the `n`th row (from 1): `n`, or the value every row holds.
    fn lead(&self, n: i64) -> i64 {
        self.same_lead.unwrap_or(n)
    }

    /// Rows added and not sent yet.
    pub(super) fn len(&self) -> usize {
        self.rows
    }

    /// Adds a row: `lead` (one value per lead column), then the escalation's fields.
    pub(super) fn push(&mut self, lead: &[i64], r: &NewEscalation) -> Result<(), StoreError> {
        fn text(t: &Option<Text>) -> Option<&str> {
            t.as_ref().map(Text::as_str)
        }
        let severity = i16::from(r.severity.score());
        self.bytes.put_i16(self.fields);
        for id in lead {
            self.field(id, &Type::INT8)?;
        }
        let values: [&(dyn ToSql + Sync); 11] = [
            &text(&r.ticket),
            &r.client.as_str(),
            &r.product.as_str(),
            &r.region.as_str(),
            &severity,
            &r.opened,
            &r.closed,
            &text(&r.status),
            &text(&r.summary),
            &text(&r.email),
            &text(&r.phone),
        ];
        for (value, ty) in values.into_iter().zip(&ESCALATION_TYPES) {
            self.field(value, ty)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// One field: its length, then its bytes as its type encodes them (-1 and none for NULL).
    fn field(&mut self, value: &(dyn ToSql + Sync), ty: &Type) -> Result<(), StoreError> {
        let at = self.bytes.len();
        self.bytes.put_i32(0);
        let bad =
            |e: &dyn std::fmt::Display| StoreError::Other(format!("encoding a {ty} value: {e}"));
        let length = match value
            .to_sql_checked(ty, &mut self.bytes)
            .map_err(|e| bad(&e))?
        {
            IsNull::Yes => -1,
            IsNull::No => i32::try_from(self.bytes.len() - at - 4).map_err(|e| bad(&e))?,
        };
        self.bytes[at..at + 4].copy_from_slice(&length.to_be_bytes());
        Ok(())
    }

    /// Bytes encoded and not sent yet.
    fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Hands over the rows encoded so far, to be sent in a `COPY` already begun.
    fn take(&mut self) -> Bytes {
        self.rows = 0;
        self.bytes.split().freeze()
    }

    /// Sends the rows added (if any) with one `COPY` in `tx`.
    pub(super) fn send(&mut self, tx: &mut Transaction<'_>) -> Result<(), StoreError> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut copy = Copy::begin(tx, &self.sql)?;
        copy.write(&self.bytes)?;
        copy.finish()?;
        self.bytes.clear();
        self.rows = 0;
        Ok(())
    }
}

/// A binary `COPY ... FROM STDIN` under way: the header is sent, rows follow, the trailer ends it.
struct Copy<'t>(CopyInWriter<'t>);

impl<'t> Copy<'t> {
    fn begin(tx: &'t mut Transaction<'_>, sql: &str) -> Result<Self, StoreError> {
        let mut copy = Self(tx.copy_in(sql)?);
        copy.write(COPY_HEADER)?;
        Ok(copy)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.0
            .write_all(bytes)
            .map_err(|e| StoreError::Other(format!("sending rows: {e}")))
    }

    fn finish(mut self) -> Result<(), StoreError> {
        // A failed write is the server's refusal (or a lost connection): `finish` says which.
        let sent = self.0.write_all(&(-1i16).to_be_bytes());
        let finished = self.0.finish();
        finished?;
        sent.map_err(|e| StoreError::Other(format!("sending rows: {e}")))
    }
}

/// How an import's rows reach `escalations`.
enum Mode {
    /// Copied to a staging table and merged at the commit (a row with a stored ticket replaces
    /// it): the way into a table that holds rows.
    Merge,
    /// Copied straight into `escalations`, which is empty and locked, with its indexes dropped
    /// and built again at the commit: a first load costs what the database's own bulk load does
    /// plus one sort per index, not an index probe per row.
    Load,
}

/// The indexes of `escalations` (as migrations 0001 and 0008 made them), dropped for a load and
/// built again at its commit. The unique ticket key is built last and apart: a file that repeats
/// a ticket fails it, and its earlier rows are then removed first.
const LOAD_DROPS: &str = "ALTER TABLE escalations DROP CONSTRAINT escalations_ticket_key;
     ALTER TABLE escalations DROP CONSTRAINT escalations_pkey;
     DROP INDEX escalations_import_id";
const LOAD_BUILDS: &str =
    "ALTER TABLE escalations ADD CONSTRAINT escalations_pkey PRIMARY KEY (id);
     CREATE INDEX escalations_import_id ON escalations (import_id)";
const LOAD_TICKET_KEY: &str =
    "ALTER TABLE escalations ADD CONSTRAINT escalations_ticket_key UNIQUE (ticket)";

/// Memory each index build of a load may sort in (the server's default is 64 MB; a million
/// rows' tickets sort in memory within this).
const LOAD_SORT_MEMORY: &str = "SET LOCAL maintenance_work_mem = '128MB'";

/// An import under way. The transaction runs on a thread of its own ([`write_import`]), which
/// holds the connection and one `COPY` open for the whole file; this side encodes the rows and
/// hands them over a chunk at a time. So reading and encoding the file here, and the database
/// taking the rows in, overlap: one `COPY` per batch would leave each side idle while the other
/// works. The connection goes back to the store when the import ends, whichever way.
pub(super) struct PgImport<'s> {
    /// Where the connection goes back.
    home: &'s mut Option<Client>,
    rows: CopyRows,
    written: i64,
    to_writer: Option<SyncSender<ToWriter>>,
    writer: Option<JoinHandle<(Client, Result<Committed, StoreError>)>>,
}

/// What the import's thread is told.
enum ToWriter {
    Rows(Bytes),
    Commit { written: i64, rejected: u64 },
}

/// Encoded bytes handed to the import's thread at a time, and chunks it may be behind.
const CHUNK_BYTES: usize = 1 << 20;
const CHUNKS_AHEAD: usize = 8;

impl<'s> PgImport<'s> {
    /// Starts the import `import` on `client`, which goes back to `home` when the import ends.
    pub(super) fn begin(
        home: &'s mut Option<Client>,
        mut client: Client,
        import: &NewImport<'_>,
    ) -> Result<Self, StoreError> {
        let import = OwnedImport {
            source: import.source.to_owned(),
            format: import.format.to_owned(),
            encoding: import.encoding.to_owned(),
        };
        let (to_writer, chunks) = sync_channel(CHUNKS_AHEAD);
        let (ready, begun) = sync_channel(1);
        let span = tracing::Span::current();
        let writer = std::thread::Builder::new()
            .name("import-write".into())
            .spawn(move || {
                let _in = span.enter();
                let result = write_import(&mut client, &import, &ready, &chunks);
                (client, result)
            })
            .map_err(|e| StoreError::Other(format!("could not start the import's thread: {e}")))?;
        let mut this = Self {
            home,
            rows: CopyRows::new("", &[]),
            written: 0,
            to_writer: Some(to_writer),
            writer: Some(writer),
        };
        match begun.recv() {
            Ok(Ok(rows)) => {
                this.rows = rows;
                Ok(this)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(this.stop()),
        }
    }

    /// Sends `message` to the import's thread; when it has stopped, its error.
    fn tell(&mut self, message: ToWriter) -> Result<(), StoreError> {
        match &self.to_writer {
            Some(to_writer) if to_writer.send(message).is_ok() => Ok(()),
            _ => Err(self.stop()),
        }
    }

    /// Ends the import's thread (which rolls back unless it committed), gives the connection
    /// back, and returns the thread's error (or, had it none, says the import ended).
    fn stop(&mut self) -> StoreError {
        match self.finish() {
            Ok(_) => StoreError::Other("the import had ended".into()),
            Err(e) => e,
        }
    }

    /// Ends the import's thread: lets it go on to the end it was told of, and gives the
    /// connection back.
    fn finish(&mut self) -> Result<Committed, StoreError> {
        self.to_writer = None;
        let Some(writer) = self.writer.take() else {
            return Err(StoreError::Other("the import had ended".into()));
        };
        match writer.join() {
            Ok((client, result)) => {
                *self.home = Some(client);
                result
            }
            // The connection is lost with the thread; the store opens another.
            Err(_) => Err(StoreError::Other("the import's thread failed".into())),
        }
    }
}

impl Drop for PgImport<'_> {
    /// An import dropped before its commit is rolled back.
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.finish();
        }
    }
}

impl ImportTx for PgImport<'_> {
    fn write(&mut self, row: &NewEscalation) -> Result<Written, StoreError> {
        self.written += 1;
        let lead = self.rows.lead(self.written);
        self.rows.push(&[lead], row)?;
        if self.rows.bytes() >= CHUNK_BYTES {
            let chunk = ToWriter::Rows(self.rows.take());
            self.tell(chunk)?;
        }
        // Rows are copied and take their ids from the database: the ids come at the commit.
        Ok(Written::Pending)
    }

    fn commit(mut self: Box<Self>, rejected: u64) -> Result<Committed, StoreError> {
        let chunk = ToWriter::Rows(self.rows.take());
        self.tell(chunk)?;
        let written = self.written;
        self.tell(ToWriter::Commit { written, rejected })?;
        self.finish()
    }
}

/// [`NewImport`], owned by the import's thread.
struct OwnedImport {
    source: String,
    format: String,
    encoding: String,
}

/// The import's thread: records the import, says how its rows are to be encoded (into `ready`),
/// then copies the chunks it is sent until it is told to commit. Without that word (the import
/// was dropped, or failed on the other side) the transaction rolls back.
fn write_import(
    client: &mut Client,
    import: &OwnedImport,
    ready: &SyncSender<Result<CopyRows, StoreError>>,
    chunks: &Receiver<ToWriter>,
) -> Result<Committed, StoreError> {
    let begun = begin(client, import);
    let (mut tx, record, mode) = match begun {
        Ok(begun) => begun,
        Err(e) => {
            let said = StoreError::Other(e.to_string());
            let _ = ready.send(Err(e));
            return Err(said);
        }
    };
    let rows = match mode {
        Mode::Merge => CopyRows::new("escamap_staging", &["seq"]),
        Mode::Load => CopyRows::new("escalations", &["import_id"]).with_lead(record.id),
    };
    let sql = rows.sql.clone();
    if ready.send(Ok(rows)).is_err() {
        return Err(StoreError::Other("the import was dropped".into()));
    }
    let started = Instant::now();
    let mut copy = Copy::begin(&mut tx, &sql)?;
    let (written, rejected) = loop {
        match chunks.recv() {
            Ok(ToWriter::Rows(bytes)) => copy.write(&bytes)?,
            Ok(ToWriter::Commit { written, rejected }) => break (written, rejected),
            // Dropped: the copy and the transaction roll back.
            Err(_) => return Err(StoreError::Other("the import was dropped".into())),
        }
    };
    copy.finish()?;
    let copied = started.elapsed();
    let (imported, replaced, current) = match mode {
        Mode::Merge => merge(&mut tx, record.id)?,
        Mode::Load => build_indexes(&mut tx, written)?,
    };
    tx.execute(
        "UPDATE imports SET rows_imported = $1, rows_replaced = $2, rows_rejected = $3 WHERE id = $4",
        &[&imported, &replaced, &sql_count(rejected), &record.id],
    )?;
    let generation = notify(&mut tx, &format!("import {}", record.id))?;
    tx.execute(
        "UPDATE imports SET generation = $1 WHERE id = $2",
        &[&sql_count(generation), &record.id],
    )?;
    let record = ImportRecord {
        rows_imported: count(imported)?,
        rows_replaced: count(replaced)?,
        rows_rejected: rejected,
        rows_current: count(current)?,
        ..record
    };
    tx.commit()?;
    tracing::debug!(
        rows = imported,
        how = match mode {
            Mode::Merge => "merged",
            Mode::Load => "loaded",
        },
        copied_ms = copied.as_millis() as u64,
        then_ms = (started.elapsed() - copied).as_millis() as u64,
        "import written into escalations"
    );
    Ok(Committed { record, generation })
}

/// Records the import and chooses how its rows go in: into an empty `escalations` they are
/// loaded ([`Mode::Load`]); otherwise staged in a temporary table, dropped at commit
/// ([`Mode::Merge`]).
fn begin<'c>(
    client: &'c mut Client,
    import: &OwnedImport,
) -> Result<(Transaction<'c>, ImportRecord, Mode), StoreError> {
    let mut tx = client.transaction()?;
    let now = micros(Utc::now());
    let row = tx.query_one(
        "INSERT INTO imports (source, format, encoding, imported_at, rows_imported, rows_replaced, rows_rejected)
         VALUES ($1, $2, $3, $4, 0, 0, 0) RETURNING id",
        &[&import.source, &import.format, &import.encoding, &now],
    )?;
    let record = ImportRecord {
        id: col(&row, 0)?,
        source: import.source.clone(),
        format: import.format.clone(),
        encoding: import.encoding.clone(),
        imported_at: now,
        rows_imported: 0,
        rows_replaced: 0,
        rows_rejected: 0,
        rows_current: 0,
    };
    let mode = if is_empty(&mut tx)? && lock_for_load(&mut tx)? && is_empty(&mut tx)? {
        // Asked again under the lock: another import may have filled the table meanwhile.
        tx.batch_execute(LOAD_DROPS)?;
        Mode::Load
    } else {
        Mode::Merge
    };
    if let Mode::Merge = mode {
        tx.batch_execute(
            "CREATE TEMP TABLE escamap_staging (
                seq BIGINT NOT NULL, ticket TEXT COLLATE \"C\", client TEXT NOT NULL,
                product TEXT NOT NULL, region TEXT NOT NULL, severity SMALLINT NOT NULL,
                opened DATE NOT NULL, closed DATE, status TEXT, summary TEXT, email TEXT,
                phone TEXT
             ) ON COMMIT DROP",
        )?;
    }
    Ok((tx, record, mode))
}

/// Merges the staged rows into `escalations`; returns the rows imported, the rows that replaced
/// one (stored already, or earlier in this file) and the rows now current.
fn merge(tx: &mut Transaction<'_>, import_id: i64) -> Result<(i64, i64, i64), StoreError> {
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
        &[&import_id],
    )?;
    // Every row this import wrote is still its own: one per new or replaced ticket, one per
    // row without a ticket.
    let replaced = with_ticket - (distinct - stored);
    Ok((imported, replaced, imported - with_ticket + distinct))
}

/// Builds the indexes a load dropped; returns the rows imported (`written`), the rows that
/// replaced one (earlier in this file: the table was empty) and the rows now current.
fn build_indexes(tx: &mut Transaction<'_>, written: i64) -> Result<(i64, i64, i64), StoreError> {
    tx.batch_execute(LOAD_SORT_MEMORY)?;
    tx.batch_execute(LOAD_BUILDS)?;
    // Most files name each ticket once: try the key, and only when it fails keep each ticket's
    // last row (the highest id: ids follow the file's order) and try again.
    let mut first = tx.savepoint("ticket_key")?;
    let replaced = match first.batch_execute(LOAD_TICKET_KEY) {
        Ok(()) => {
            first.commit()?;
            0
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            first.rollback()?;
            let gone = tx.execute(
                "DELETE FROM escalations WHERE id IN (
                     SELECT id FROM (SELECT id, row_number() OVER
                         (PARTITION BY ticket ORDER BY id DESC) AS later
                       FROM escalations WHERE ticket IS NOT NULL) s
                     WHERE later > 1)",
                &[],
            )?;
            tx.batch_execute(LOAD_TICKET_KEY)?;
            i64::try_from(gone).map_err(|_| StoreError::Other("row count".into()))?
        }
        Err(e) => return Err(e.into()),
    };
    Ok((written, replaced, written - replaced))
}

/// Takes `escalations` for this transaction alone (readers wait until the commit; an empty
/// table has nothing to read), if nobody else holds it now: false, and nothing taken, when
/// somebody does. Never waits: two imports that both found the table empty each hold a share of
/// it already, and each waiting for the other to let go would be a deadlock.
fn lock_for_load(tx: &mut Transaction<'_>) -> Result<bool, StoreError> {
    let mut attempt = tx.savepoint("load_lock")?;
    match attempt.batch_execute("LOCK TABLE escalations IN ACCESS EXCLUSIVE MODE NOWAIT") {
        Ok(()) => {
            attempt.commit()?;
            Ok(true)
        }
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            attempt.rollback()?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether `escalations` holds no row (visible to this transaction).
fn is_empty(tx: &mut Transaction<'_>) -> Result<bool, StoreError> {
    let row = tx.query_one("SELECT NOT EXISTS (SELECT 1 FROM escalations)", &[])?;
    col(&row, 0)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use postgres::{Client, NoTls};

    use crate::domain::{Label, NewEscalation, Severity, Text};
    use crate::store::testing::ScratchDb;
    use crate::store::{NewImport, PgStore, Store};

    fn row(ticket: Option<&str>, client: &str) -> NewEscalation {
        let text = |s: &str| Text::new(s).expect("text");
        NewEscalation {
            ticket: ticket.map(text),
            client: text(client),
            product: Label::new("Billing").expect("label"),
            region: Label::new("EMEA").expect("label"),
            severity: Severity::High,
            opened: NaiveDate::from_ymd_opt(2026, 11, 2).expect("date"),
            closed: None,
            status: None,
            summary: Some(text("a \"quoted\" summary, with ünïcode")),
            email: None,
            phone: None,
        }
    }

    fn import(store: &mut PgStore, rows: &[NewEscalation], commit: bool) {
        let mut tx = store
            .begin_import(&NewImport {
                source: "load.csv",
                format: "export",
                encoding: "utf-8",
            })
            .expect("begin");
        for r in rows {
            tx.write(r).expect("write");
        }
        if commit {
            tx.commit(0).expect("commit");
        }
    }

    /// The keys and indexes of `escalations`, as the server describes them.
    fn keys(url: &str) -> Vec<String> {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let mut c = Client::connect(&url, NoTls).expect("connect");
            let mut keys: Vec<String> = c
                .query(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = 'escalations'
                     UNION ALL
                     SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
                     WHERE conrelid = 'escalations'::regclass",
                    &[],
                )
                .expect("keys")
                .iter()
                .map(|r| r.get(0))
                .collect();
            keys.sort();
            keys
        })
        .join()
        .expect("keys")
    }

    /// A first import into an empty store is loaded with the indexes dropped: whether it commits
    /// (with a ticket the file repeats, which the unique key refuses at first) or is dropped, the
    /// table keeps exactly the keys the migrations made, and they hold.
    #[test]
    fn a_load_leaves_the_keys_the_migrations_made() {
        let Some(db) = ScratchDb::create("a_load_leaves_the_keys_the_migrations_made") else {
            return;
        };
        let mut store = PgStore::connect(db.url()).expect("connect");
        let migrated = keys(db.url());
        assert!(
            migrated.iter().any(|k| k.contains("UNIQUE (ticket)")),
            "{migrated:?}"
        );
        import(&mut store, &[row(Some("T-1"), "Dropped")], false);
        assert_eq!(keys(db.url()), migrated, "after a dropped load");
        assert_eq!(store.count().expect("count"), 0);
        let rows: Vec<NewEscalation> = (0..50_000)
            .map(|i| row(Some(&format!("T-{}", i % 40_000)), &format!("C{i}")))
            .chain([row(None, "No ticket")])
            .collect();
        import(&mut store, &rows, true);
        assert_eq!(keys(db.url()), migrated, "after a load");
        let listed = store.imports().expect("imports");
        assert_eq!(
            (
                listed[0].rows_imported,
                listed[0].rows_replaced,
                listed[0].rows_current
            ),
            (50_001, 10_000, 40_001)
        );
        // The last row of each repeated ticket was kept, and the keys hold from now on.
        import(&mut store, &[row(Some("T-1"), "Merged")], true);
        assert_eq!(store.count().expect("count"), 40_001);
        let url = db.url().to_owned();
        let clients: Vec<String> = std::thread::spawn(move || {
            let mut c = Client::connect(&url, NoTls).expect("connect");
            c.query(
                "SELECT client FROM escalations WHERE ticket IN ('T-1', 'T-2') ORDER BY ticket",
                &[],
            )
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect()
        })
        .join()
        .expect("query");
        assert_eq!(clients, ["Merged", "C40002"]);
    }

    /// Two first imports at once into an empty store: one loads, the other waits for it and
    /// merges; both land whole.
    #[test]
    fn first_imports_at_once_both_land() {
        let Some(db) = ScratchDb::create("first_imports_at_once_both_land") else {
            return;
        };
        PgStore::connect(db.url()).expect("migrate");
        let migrated = keys(db.url());
        let workers: Vec<_> = (0..2)
            .map(|n| {
                let url = db.url().to_owned();
                std::thread::spawn(move || {
                    let mut store = PgStore::connect(&url).expect("connect");
                    let rows: Vec<NewEscalation> = (0..20_000)
                        .map(|i| row(Some(&format!("T-{n}-{i}")), "Both"))
                        .chain([row(Some("T-shared"), &format!("from {n}"))])
                        .collect();
                    import(&mut store, &rows, true);
                })
            })
            .collect();
        for w in workers {
            w.join().expect("import");
        }
        let mut store = PgStore::connect(db.url()).expect("connect");
        assert_eq!(store.count().expect("count"), 40_001);
        assert_eq!(keys(db.url()), migrated);
    }
}
