//! SQLite: one file, WAL, foreign keys on, migrations tracked in `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::{
    Alert, AlertMessage, ClaimedMessage, Committed, Delivery, DumpSink, ImportRecord, ImportTx,
    IndexRow, NewAlert, NewImport, NewSubscription, NewView, RestoreTx, SavedView, Scanned,
    SourceProfile, Store, StoreError, StoredToken, StoredUser, Subscription, Target, TokenRecord,
    Written, parse_iso_day, to_micros,
};
use crate::domain::{Escalation, Label, NewEscalation, Role, Severity, Text, User, UserName};

/// Migrations in order; the position is the schema version. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_accounts.sql"),
    include_str!("../../migrations/sqlite/0003_shared_state.sql"),
    include_str!("../../migrations/sqlite/0004_id_sequences.sql"),
    include_str!("../../migrations/sqlite/0005_source_profiles.sql"),
    include_str!("../../migrations/sqlite/0006_saved_views.sql"),
    include_str!("../../migrations/sqlite/0007_subscriptions.sql"),
    include_str!("../../migrations/sqlite/0008_alerts_and_webhooks.sql"),
    include_str!("../../migrations/sqlite/0009_index_changes.sql"),
];

pub struct SqliteStore {
    conn: Connection,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ConstraintViolation => StoreError::Conflict(e.to_string()),
                DatabaseBusy | DatabaseLocked | CannotOpen | NotADatabase | ReadOnly
                | SystemIoFailure | DiskFull => StoreError::Unavailable(e.to_string()),
                _ => StoreError::Other(e.to_string()),
            },
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Other(format!("unexpected value in the store: {e}"))
    }
}

impl SqliteStore {
    /// Opens (creating if needed, in an existing directory) the store at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // A store is created only in a directory that exists: a mistyped path is an error that
        // names it, not a tree of new directories and an empty store.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(StoreError::Unavailable(format!(
                "the directory {} does not exist (create it first, or give --db a file in an existing directory)",
                dir.display()
            )));
        }
        owner_only(path)?;
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    /// A private in-memory store, for tests and one-off runs.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // Before WAL: a new store takes its page size now; an existing one keeps its own.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self { conn })
    }
}

/// The page size of a new store. SQLite's default is 4 KiB; an import writes every page twice
/// (to the WAL, then into the store at the checkpoint), and at 16 KiB a million-row import makes
/// a quarter of the system calls: its kernel time falls from 0.67 s to 0.42 s, and its whole CPU
/// to within 1.3 times that of `sqlite3 .import` (scripts/import-bench.sh). Larger pages gain
/// little more (0.34 s at 32 KiB, 0.30 s at 64 KiB) while every small change (a session's last
/// use, a setting) writes a whole page to the WAL. Reading the whole store into the index takes
/// the same time at every size. A store made before keeps its 4 KiB pages (a WAL-mode store
/// cannot change them).
const PAGE_SIZE: u32 = 16384;

/// The store holds personal data: its file is created readable by its owner only (0600), and an
/// existing one, with its WAL and shared-memory files, is narrowed to that. SQLite creates the
/// WAL and `-shm` files with the database file's permissions.
fn owner_only(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut files = vec![path.to_path_buf()];
                for suffix in ["-wal", "-shm"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    files.push(p.into());
                }
                for file in files {
                    if let Ok(meta) = std::fs::metadata(&file)
                        && meta.permissions().mode() & 0o077 != 0
                        && meta.is_file()
                    {
                        // Someone else's file we may not change: leave it, SQLite still opens it.
                        let _ =
                            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
                    }
                }
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Other(format!(
            "the store's schema (version {current}) is newer than this escamap knows ({}); upgrade escamap",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The next id of `table` (`imports` or `api_tokens`), never handed out before: above the last one
/// handed out and above any row restored with its own id (migration 0004).
fn next_id(conn: &Connection, table: &'static str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        &format!(
            "UPDATE id_sequences SET last = MAX(last, (SELECT COALESCE(MAX(id), 0) FROM {table})) + 1
             WHERE name = ?1 RETURNING last"
        ),
        params![table],
        |r| r.get(0),
    )?)
}

struct SqliteImport<'c> {
    // The statements come first: they are finalised before the transaction ends.
    insert: rusqlite::Statement<'c>,
    update: rusqlite::Statement<'c>,
    tx: Transaction<'c>,
    import_id: i64,
    imported: u64,
    replaced: u64,
}

const INSERT: &str = "INSERT INTO escalations
    (import_id, ticket, client, product, region, severity, opened, closed, status, summary, email, phone)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
    ON CONFLICT (ticket) DO NOTHING";
/// The row of a ticket seen before (`?2`, never NULL here: a NULL ticket never conflicts).
const UPDATE: &str = "UPDATE escalations SET
    import_id = ?1, client = ?3, product = ?4, region = ?5, severity = ?6, opened = ?7,
    closed = ?8, status = ?9, summary = ?10, email = ?11, phone = ?12
    WHERE ticket = ?2";

/// An escalation's columns from `ticket` to `phone`, in the order of the statements above.
fn escalation_values(r: &NewEscalation) -> [Value; 11] {
    let opt = |t: &Option<Text>| t.as_ref().map(|t| t.as_str().to_owned()).into();
    [
        opt(&r.ticket),
        r.client.as_str().to_owned().into(),
        r.product.as_str().to_owned().into(),
        r.region.as_str().to_owned().into(),
        i64::from(r.severity.score()).into(),
        Day::of(r.opened).to_string().into(),
        r.closed.map(|d| Day::of(d).to_string()).into(),
        opt(&r.status),
        opt(&r.summary),
        opt(&r.email),
        opt(&r.phone),
    ]
}

/// Counts committed imports, deletes and restores, inside their transaction (see
/// [`Store::generation`]); returns the change's generation.
fn bump_generation(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let value: String = tx.query_row("INSERT INTO settings (key, value) VALUES ('generation', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value", [], |r| r.get(0))?;
    read_generation(Some(value))
}

/// Sets the oldest generation an index can catch up from (never lowering it).
fn raise_rebuild_from(tx: &Transaction<'_>, generation: u64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ('rebuild_from', ?1)
         ON CONFLICT (key) DO UPDATE SET value = CAST(MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
        [generation.to_string()],
    )?;
    Ok(())
}

fn setting_number(conn: &Connection, key: &str) -> Result<u64, StoreError> {
    let value: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    read_generation(value)
}

/// Calls `f` for each escalation a statement selects (its columns in [`IndexRow`] order).
fn index_rows(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    f: &mut dyn FnMut(IndexRow<'_>),
) -> Result<(), StoreError> {
    let mut rows = stmt.query(params)?;
    while let Some(r) = rows.next()? {
        f(IndexRow {
            id: r.get(0)?,
            client: r.get_ref(1)?.as_str()?,
            product: r.get_ref(2)?.as_str()?,
            region: r.get_ref(3)?.as_str()?,
            severity: severity_at(r, 4)?,
            opened: date_at(r, 5)?,
            closed: optional_date_at(r, 6)?,
            ticket: r.get_ref(7)?.as_str_or_null()?,
            status: r.get_ref(8)?.as_str_or_null()?,
        });
    }
    Ok(())
}

const INDEX_COLUMNS: &str =
    "SELECT id, client, product, region, severity, opened, closed, ticket, status FROM escalations";

fn read_generation(value: Option<String>) -> Result<u64, StoreError> {
    value.map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| StoreError::Other("unexpected generation in the store".into()))
    })
}

fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How many times a split scan tries to begin its read transactions on one snapshot before it
/// reads on one connection instead (each try fails only when a change commits in between).
const SNAPSHOT_TRIES: usize = 3;

impl SqliteStore {
    /// `n` more read-only connections to this store's file, for a split scan; none for a store
    /// in memory, or when one cannot be opened (the scan then reads on one connection).
    fn readers(&self, n: usize) -> Vec<Connection> {
        use rusqlite::OpenFlags;
        let Some(path) = self.conn.path().filter(|p| !p.is_empty() && n > 0) else {
            return Vec::new();
        };
        let open = || {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(Duration::from_secs(10))?;
            Ok::<_, rusqlite::Error>(c)
        };
        (0..n)
            .map(|_| open())
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "cannot open another connection; reading the store on one");
                Vec::new()
            })
    }
}

/// A read transaction on a connection of its own, ended (rolled back: it wrote nothing) when
/// dropped. Unlike a [`Transaction`] it can be handed to another thread.
struct Reading<'c>(&'c mut Connection);

impl<'c> Reading<'c> {
    fn begin(conn: &'c mut Connection) -> Result<Self, StoreError> {
        conn.execute_batch("BEGIN")?;
        Ok(Self(conn))
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        // Ending a read transaction cannot lose anything; a connection that fails to is closed
        // with the scan.
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

/// Every escalation, read over `conn` and `readers` at once, in one snapshot: each connection
/// begins a read transaction and reads the generation (in WAL mode the first read fixes what a
/// transaction sees), and the scan goes on only when they all read the same one: every change
/// to the escalations moves the generation, so they then see the same rows. The ids are split
/// into as many equal ranges as there are parts (ids are handed out in order, so the ranges hold
/// about as many rows each), each read into its part on a thread of its own. `None` when a
/// change committed between the transactions' first reads.
fn split_scan(
    conn: &mut Connection,
    readers: &mut [Connection],
    parts: &mut [&mut (dyn FnMut(IndexRow<'_>) + Send)],
) -> Result<Option<u64>, StoreError> {
    let tx = conn.transaction()?;
    let generation = setting_number(&tx, "generation")?;
    let mut begun = Vec::with_capacity(readers.len());
    for r in readers.iter_mut() {
        let reading = Reading::begin(r)?;
        if setting_number(reading.0, "generation")? != generation {
            return Ok(None);
        }
        begun.push(reading);
    }
    let (low, high): (Option<i64>, Option<i64>) =
        tx.query_row("SELECT min(id), max(id) FROM escalations", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(low), Some(high)) = (low, high) else {
        return Ok(Some(generation));
    };
    let n = begun.len() + 1;
    // Part i reads ids from start(i) to start(i + 1) - 1; the last one to `high`.
    let start = |i: usize| {
        let span = i128::from(high) - i128::from(low) + 1;
        i64::try_from(i128::from(low) + span * i as i128 / n as i128).unwrap_or(high)
    };
    let range = |i: usize| (start(i), if i + 1 == n { high } else { start(i + 1) - 1 });
    let Some((first, rest)) = parts.split_first_mut() else {
        return Ok(Some(generation));
    };
    std::thread::scope(|s| {
        let threads: Vec<_> = begun
            .iter_mut()
            .zip(rest.iter_mut())
            .enumerate()
            .map(|(i, (reading, sink))| {
                let (from, to) = range(i + 1);
                s.spawn(move || read_ids(reading.0, from, to, &mut **sink))
            })
            .collect();
        let (from, to) = range(0);
        let mut result = read_ids(&tx, from, to, &mut **first);
        for t in threads {
            let read = t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            result = result.and(read);
        }
        result
    })?;
    Ok(Some(generation))
}

/// The escalations with ids from `from` to `to`, each to `f`.
fn read_ids(
    conn: &Connection,
    from: i64,
    to: i64,
    f: &mut dyn FnMut(IndexRow<'_>),
) -> Result<(), StoreError> {
    index_rows(
        &mut conn.prepare(&format!("{INDEX_COLUMNS} WHERE id BETWEEN ?1 AND ?2"))?,
        [from, to],
        f,
    )
}

/// An import's counts once its row statements are done with.
struct Committing<'c> {
    tx: Transaction<'c>,
    import_id: i64,
    imported: u64,
    replaced: u64,
}

/// A day as the store keeps it, `YYYY-MM-DD`: written without format machinery and bound as
/// text without allocating (two of these per imported row). A year outside 0 to 9999 takes
/// chrono's form.
enum Day {
    Digits([u8; 10]),
    Other(String),
}

impl Day {
    fn of(d: NaiveDate) -> Self {
        use chrono::Datelike;
        let Some(y) = u32::try_from(d.year()).ok().filter(|y| *y <= 9999) else {
            return Self::Other(d.format("%Y-%m-%d").to_string());
        };
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let (m, dd) = (d.month(), d.day());
        Self::Digits([
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(dd / 10),
            digit(dd),
        ])
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Digits(b) => b,
            Self::Other(s) => s.as_bytes(),
        }
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        self.as_bytes()
            .iter()
            .try_for_each(|&b| f.write_char(char::from(b)))
    }
}

impl rusqlite::ToSql for Day {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            rusqlite::types::ValueRef::Text(self.as_bytes()),
        ))
    }
}

impl ImportTx for SqliteImport<'_> {
    fn write(&mut self, r: &NewEscalation) -> Result<Written, StoreError> {
        fn text(t: &Option<Text>) -> Option<&str> {
            t.as_ref().map(Text::as_str)
        }
        let (opened, closed) = (Day::of(r.opened), r.closed.map(Day::of));
        let fields = params![
            self.import_id,
            text(&r.ticket),
            r.client.as_str(),
            r.product.as_str(),
            r.region.as_str(),
            i64::from(r.severity.score()),
            opened,
            closed,
            text(&r.status),
            text(&r.summary),
            text(&r.email),
            text(&r.phone),
        ];
        self.imported += 1;
        // Most rows are new: the insert probes the ticket index once. One that meets its ticket
        // inserts nothing, and updates that row in place (its id kept) instead.
        if self.insert.execute(fields)? == 0 {
            self.update.execute(fields)?;
            self.replaced += 1;
            return Ok(Written::Replaced);
        }
        Ok(Written::New(self.tx.last_insert_rowid()))
    }

    fn commit(self: Box<Self>, rejected: u64) -> Result<Committed, StoreError> {
        let SqliteImport {
            insert,
            update,
            tx,
            import_id,
            imported,
            replaced,
        } = *self;
        drop((insert, update));
        let this = Committing {
            tx,
            import_id,
            imported,
            replaced,
        };
        this.tx.execute(
            "UPDATE imports SET rows_imported = ?1, rows_replaced = ?2, rows_rejected = ?3 WHERE id = ?4",
            params![sql_count(this.imported), sql_count(this.replaced), sql_count(rejected), this.import_id],
        )?;
        let record = this.tx.query_row(
            &format!("{SELECT_IMPORTS} WHERE i.id = ?1 GROUP BY i.id"),
            [this.import_id],
            import_record,
        )?;
        let generation = bump_generation(&this.tx)?;
        this.tx.execute(
            "UPDATE imports SET generation = ?1 WHERE id = ?2",
            params![sql_count(generation), this.import_id],
        )?;
        this.tx.commit()?;
        Ok(Committed { record, generation })
    }
}

const SELECT_IMPORTS: &str = "SELECT i.id, i.source, i.format, i.encoding, i.imported_at,
    i.rows_imported, i.rows_replaced, i.rows_rejected, COUNT(e.id)
    FROM imports i LEFT JOIN escalations e ON e.import_id = i.id";

fn import_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImportRecord> {
    let at: String = r.get(4)?;
    Ok(ImportRecord {
        id: r.get(0)?,
        source: r.get(1)?,
        format: r.get(2)?,
        encoding: r.get(3)?,
        imported_at: DateTime::parse_from_rfc3339(&at)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
        rows_imported: count_at(r, 5)?,
        rows_replaced: count_at(r, 6)?,
        rows_rejected: count_at(r, 7)?,
        rows_current: count_at(r, 8)?,
    })
}

fn count_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<u64> {
    let n: i64 = r.get(col)?;
    u64::try_from(n).map_err(|_| conversion(col, "count"))
}

/// A target from its three columns (e-mail, webhook, secret) starting at `col`.
fn target_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Target> {
    Target::from_columns(r.get(col)?, r.get(col + 1)?, r.get(col + 2)?)
        .ok_or_else(|| conversion(col, "target"))
}

fn conversion(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("invalid {what} in the store").into(),
    )
}

fn severity_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Severity> {
    let score: u8 = r.get(col)?;
    Severity::from_score(score).ok_or_else(|| conversion(col, "severity"))
}

fn date_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<NaiveDate> {
    let s = r.get_ref(col)?.as_str()?;
    parse_iso_day(s).ok_or_else(|| conversion(col, "date"))
}

fn text_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Option<Text>> {
    match r.get_ref(col)?.as_str_or_null()? {
        None => Ok(None),
        Some(s) => Text::optional(s).map_err(|_| conversion(col, "text")),
    }
}

impl Store for SqliteStore {
    fn begin_import<'s>(
        &'s mut self,
        import: &NewImport<'_>,
    ) -> Result<Box<dyn ImportTx + 's>, StoreError> {
        // The transaction and the row statements borrow the one connection side by side, so the
        // statements are prepared once per import, not looked up per row.
        let conn: &'s Connection = &self.conn;
        let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let import_id = next_id(&tx, "imports")?;
        tx.execute(
            "INSERT INTO imports (id, source, format, encoding, imported_at, rows_imported, rows_replaced, rows_rejected)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0)",
            params![import_id, import.source, import.format, import.encoding, to_micros(Utc::now()).to_rfc3339()],
        )?;
        Ok(Box::new(SqliteImport {
            insert: conn.prepare(INSERT)?,
            update: conn.prepare(UPDATE)?,
            tx,
            import_id,
            imported: 0,
            replaced: 0,
        }))
    }

    fn imports(&mut self) -> Result<Vec<ImportRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT_IMPORTS} GROUP BY i.id ORDER BY i.id DESC"
        ))?;
        let rows = stmt.query_map([], import_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_import(&mut self, id: i64) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // One writer at a time (the transaction is immediate), so the generation can come
        // first: the rows it retires are recorded under it.
        let generation = bump_generation(&tx)?;
        tx.execute(
            "INSERT INTO retired (generation, id) SELECT ?1, id FROM escalations WHERE import_id = ?2",
            params![sql_count(generation), id],
        )?;
        let rows = tx.execute("DELETE FROM escalations WHERE import_id = ?1", [id])?;
        if tx.execute("DELETE FROM imports WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(oldest) = generation.checked_sub(super::RETIRED_KEPT) {
            tx.execute(
                "DELETE FROM retired WHERE generation <= ?1",
                [sql_count(oldest)],
            )?;
            raise_rebuild_from(&tx, oldest)?;
        }
        tx.commit()?;
        Ok(rows as u64)
    }

    fn scan_changes(
        &mut self,
        since: Option<u64>,
        row: &mut dyn FnMut(IndexRow<'_>),
        retired: &mut dyn FnMut(i64),
    ) -> Result<Scanned, StoreError> {
        // One read transaction: in WAL mode every statement in it reads the same snapshot.
        let tx = self.conn.transaction()?;
        let generation = setting_number(&tx, "generation")?;
        let rebuild_from = setting_number(&tx, "rebuild_from")?;
        let Some(since) = super::can_catch_up(since, rebuild_from, generation) else {
            index_rows(&mut tx.prepare(INDEX_COLUMNS)?, [], row)?;
            return Ok(Scanned {
                generation,
                full: true,
            });
        };
        if since < generation {
            let since = sql_count(since);
            index_rows(
                &mut tx.prepare(&format!(
                    "{INDEX_COLUMNS} WHERE import_id IN (SELECT id FROM imports WHERE generation > ?1)"
                ))?,
                [since],
                row,
            )?;
            let mut stmt = tx.prepare("SELECT id FROM retired WHERE generation > ?1")?;
            let mut ids = stmt.query([since])?;
            while let Some(r) = ids.next()? {
                retired(r.get(0)?);
            }
        }
        Ok(Scanned {
            generation,
            full: false,
        })
    }

    fn scan_parts(
        &mut self,
        parts: &mut [&mut (dyn FnMut(IndexRow<'_>) + Send)],
    ) -> Result<u64, StoreError> {
        let mut readers = self.readers(parts.len().saturating_sub(1));
        if !readers.is_empty() {
            for _ in 0..SNAPSHOT_TRIES {
                if let Some(generation) = split_scan(&mut self.conn, &mut readers, parts)? {
                    return Ok(generation);
                }
            }
            tracing::debug!(
                "changes kept committing between the parts' first reads; reading the store on one connection"
            );
        }
        super::scan_all_into_first(self, parts)
    }

    fn escalations(&mut self, ids: &[i64]) -> Result<Vec<Escalation>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_ESCALATION} WHERE id = ?1"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let found = stmt.query_row([id], escalation_row).optional()?;
            out.extend(found);
        }
        Ok(out)
    }

    fn count(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM escalations", [], |r| count_at(r, 0))?)
    }

    fn user_count(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM users", [], |r| count_at(r, 0))?)
    }

    fn insert_user(
        &mut self,
        name: &UserName,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let now = to_micros(Utc::now());
        match self.conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                name.as_str(),
                role.as_str(),
                password_hash,
                to_micros(now).to_rfc3339()
            ],
        ) {
            Ok(_) => Ok(User {
                id: self.conn.last_insert_rowid(),
                name: name.to_string(),
                role,
                created_at: now,
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn users(&mut self) -> Result<Vec<User>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_USER} ORDER BY name COLLATE NOCASE"))?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn user_by_name(&mut self, name: &str) -> Result<Option<(User, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, role, created_at, password_hash FROM users WHERE name = ?1",
                [name],
                |r| Ok((user_row(r)?, r.get(4)?)),
            )
            .optional()?)
    }

    fn delete_user(&mut self, name: &str) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM users WHERE name = ?1", [name])?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn set_password(&mut self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let id: Option<i64> = tx
            .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        let id = id.ok_or(StoreError::NotFound)?;
        tx.execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            params![password_hash, id],
        )?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    fn set_role(&mut self, name: &str, role: Role) -> Result<(), StoreError> {
        match self.conn.execute(
            "UPDATE users SET role = ?1 WHERE name = ?2",
            params![role.as_str(), name],
        )? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn create_session(
        &mut self,
        id_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES (?1, ?2, ?3, ?3)",
            params![id_hash, user_id, to_micros(now).to_rfc3339()],
        )?;
        Ok(())
    }

    fn session(&mut self, id_hash: &str) -> Result<Option<(User, DateTime<Utc>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.id, u.name, u.role, u.created_at, s.last_seen FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?1",
                [id_hash],
                |r| Ok((user_row(r)?, time_at(r, 4)?)),
            )
            .optional()?)
    }

    fn touch_session(&mut self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sessions SET last_seen = ?1 WHERE id_hash = ?2",
            params![to_micros(now).to_rfc3339(), id_hash],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
        Ok(())
    }

    fn insert_token(
        &mut self,
        user_id: i64,
        label: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        let id = next_id(&tx, "api_tokens")?;
        tx.execute(
            "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, user_id, label, token_hash, to_micros(now).to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn token_user(
        &mut self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let user = self
            .conn
            .query_row(
                "SELECT u.id, u.name, u.role, u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
                [token_hash],
                user_row,
            )
            .optional()?;
        if user.is_some() {
            self.conn.execute(
                "UPDATE api_tokens SET last_used = ?1 WHERE token_hash = ?2",
                params![to_micros(now).to_rfc3339(), token_hash],
            )?;
        }
        Ok(user)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT t.id, u.name, t.label, t.created_at, t.last_used FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TokenRecord {
                id: r.get(0)?,
                user: r.get(1)?,
                label: r.get(2)?,
                created_at: time_at(r, 3)?,
                last_used: optional_time_at(r, 4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_token(&mut self, id: i64) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM api_tokens WHERE id = ?1", [id])?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn setting_or_insert(&mut self, key: &str, default: &str) -> Result<String, StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
            [key, default],
        )?;
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })?)
    }

    fn save_profile(&mut self, p: &SourceProfile) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO source_profiles (name, header, mapping, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET name = excluded.name, header = excluded.header, mapping = excluded.mapping,
             created_at = excluded.created_at",
            params![p.name, p.header, p.mapping, to_micros(p.created_at).to_rfc3339()],
        )?;
        Ok(())
    }

    fn profiles(&mut self) -> Result<Vec<SourceProfile>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, header, mapping, created_at FROM source_profiles ORDER BY name COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceProfile {
                name: r.get(0)?,
                header: r.get(1)?,
                mapping: r.get(2)?,
                created_at: time_at(r, 3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_profile(&mut self, name: &str) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM source_profiles WHERE name = ?1", [name])?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn save_view(&mut self, v: &NewView) -> Result<SavedView, StoreError> {
        let at = to_micros(v.created_at);
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM saved_views WHERE name = ?1", [&v.name])?;
        tx.execute(
            "INSERT INTO saved_views (name, owner, shared, query, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![v.name, v.owner, v.shared, v.query, at.to_rfc3339()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(v.saved(id))
    }

    fn views(&mut self) -> Result<Vec<SavedView>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, owner, shared, query, created_at FROM saved_views ORDER BY name COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SavedView {
                id: r.get(0)?,
                name: r.get(1)?,
                owner: r.get(2)?,
                shared: r.get(3)?,
                query: r.get(4)?,
                created_at: time_at(r, 5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_view(&mut self, name: &str) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM saved_views WHERE name = ?1", [name])?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn add_subscription(&mut self, n: &NewSubscription) -> Result<Subscription, StoreError> {
        let (email, webhook, secret) = n.target.columns();
        self.conn.execute(
            "INSERT INTO subscriptions (user, view, schedule, tz, email, webhook, secret, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![n.user, n.view, n.schedule, n.tz, email, webhook, secret, micros(n.created_at)],
        )?;
        Ok(n.saved(self.conn.last_insert_rowid()))
    }

    fn subscriptions(&mut self) -> Result<Vec<Subscription>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, user, view, schedule, tz, email, webhook, secret, created_at
             FROM subscriptions ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Subscription {
                id: r.get(0)?,
                user: r.get(1)?,
                view: r.get(2)?,
                schedule: r.get(3)?,
                tz: r.get(4)?,
                target: target_at(r, 5)?,
                created_at: from_micros(r.get(8)?).ok_or_else(|| conversion(8, "time"))?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn remove_subscription(&mut self, id: i64) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM subscriptions WHERE id = ?1", [id])?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn claim_delivery(
        &mut self,
        subscription: i64,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        let attempts: Option<u32> = self
            .conn
            .query_row(
                "INSERT INTO deliveries (subscription_id, slot, state, attempts, lease_until, next_try)
                 VALUES (?1, ?2, 'sending', 1, ?4, ?3)
                 ON CONFLICT (subscription_id, slot) DO UPDATE
                   SET state = 'sending', attempts = deliveries.attempts + 1, lease_until = excluded.lease_until
                   WHERE deliveries.state != 'sent' AND deliveries.lease_until <= ?3 AND deliveries.next_try <= ?3
                 RETURNING attempts",
                params![subscription, micros(slot), micros(now), micros(lease_until)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(attempts)
    }

    fn finish_delivery(
        &mut self,
        subscription: i64,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        failed: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        match failed {
            None => self.conn.execute(
                "UPDATE deliveries SET state = 'sent', sent_at = ?3, last_error = NULL, lease_until = ?3
                 WHERE subscription_id = ?1 AND slot = ?2",
                params![subscription, micros(slot), micros(now)],
            )?,
            Some((error, retry_at)) => self.conn.execute(
                "UPDATE deliveries SET state = 'failed', last_error = ?4, lease_until = ?3, next_try = ?5
                 WHERE subscription_id = ?1 AND slot = ?2",
                params![subscription, micros(slot), micros(now), error, micros(retry_at)],
            )?,
        };
        Ok(())
    }

    fn deliveries(&mut self, subscription: i64) -> Result<Vec<Delivery>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT slot, state, attempts, last_error, sent_at FROM deliveries
             WHERE subscription_id = ?1 ORDER BY slot DESC",
        )?;
        let rows = stmt.query_map([subscription], |r| {
            Ok(Delivery {
                slot: from_micros(r.get(0)?).ok_or_else(|| conversion(0, "time"))?,
                state: r.get(1)?,
                attempts: r.get(2)?,
                last_error: r.get(3)?,
                sent_at: r
                    .get::<_, Option<i64>>(4)?
                    .map(|v| from_micros(v).ok_or_else(|| conversion(4, "time")))
                    .transpose()?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_alert(&mut self, a: &NewAlert) -> Result<Alert, StoreError> {
        let (email, webhook, secret) = a.target.columns();
        self.conn.execute(
            "INSERT INTO alerts (user, kinds, query, min_score, email, webhook, secret, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                a.user,
                a.kinds.join(","),
                a.query,
                a.min_score,
                email,
                webhook,
                secret,
                micros(a.created_at)
            ],
        )?;
        Ok(a.saved(self.conn.last_insert_rowid()))
    }

    fn alerts(&mut self) -> Result<Vec<Alert>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, user, kinds, query, min_score, email, webhook, secret, created_at
             FROM alerts ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Alert {
                id: r.get(0)?,
                user: r.get(1)?,
                kinds: super::split_kinds(&r.get::<_, String>(2)?),
                query: r.get(3)?,
                min_score: r.get(4)?,
                target: target_at(r, 5)?,
                created_at: from_micros(r.get(8)?).ok_or_else(|| conversion(8, "time"))?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn remove_alert(&mut self, id: i64) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM alerts WHERE id = ?1", [id])?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn record_findings(
        &mut self,
        alert: i64,
        findings: &[String],
        payload: &mut dyn FnMut(&[usize]) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut new = Vec::new();
        {
            let mut insert = tx.prepare(
                "INSERT INTO alert_findings (alert_id, finding) VALUES (?1, ?2)
                 ON CONFLICT (alert_id, finding) DO NOTHING",
            )?;
            for (i, f) in findings.iter().enumerate() {
                if insert.execute(params![alert, f])? == 1 {
                    new.push(i);
                }
            }
        }
        let mut message = None;
        if !new.is_empty()
            && let Some(body) = payload(&new)
        {
            tx.execute(
                "INSERT INTO alert_messages (alert_id, payload, state, attempts, lease_until, next_try, created_at)
                 VALUES (?1, ?2, 'queued', 0, ?3, ?3, ?3)",
                params![alert, body, micros(now)],
            )?;
            let id = tx.last_insert_rowid();
            let mut link = tx.prepare(
                "UPDATE alert_findings SET message_id = ?3 WHERE alert_id = ?1 AND finding = ?2",
            )?;
            for &i in &new {
                link.execute(params![alert, findings[i], id])?;
            }
            message = Some(id);
        }
        tx.commit()?;
        Ok(message)
    }

    fn claim_message(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedMessage>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "UPDATE alert_messages SET state = 'sending', attempts = attempts + 1, lease_until = ?2
                 WHERE id = (SELECT id FROM alert_messages
                             WHERE state != 'sent' AND lease_until <= ?1 AND next_try <= ?1
                             ORDER BY id LIMIT 1)
                 RETURNING id, alert_id, payload, attempts",
                params![micros(now), micros(lease_until)],
                |r| {
                    Ok(ClaimedMessage {
                        id: r.get(0)?,
                        alert: r.get(1)?,
                        payload: r.get(2)?,
                        attempt: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn finish_message(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        failed: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        match failed {
            None => self.conn.execute(
                "UPDATE alert_messages SET state = 'sent', sent_at = ?2, last_error = NULL, lease_until = ?2
                 WHERE id = ?1",
                params![id, micros(now)],
            )?,
            Some((error, retry_at)) => self.conn.execute(
                "UPDATE alert_messages SET state = 'failed', last_error = ?3, lease_until = ?2, next_try = ?4
                 WHERE id = ?1",
                params![id, micros(now), error, micros(retry_at)],
            )?,
        };
        Ok(())
    }

    fn alert_messages(&mut self, alert: i64) -> Result<Vec<AlertMessage>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, alert_id, state, attempts, last_error, created_at, sent_at, payload
             FROM alert_messages WHERE alert_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([alert], |r| {
            Ok(AlertMessage {
                id: r.get(0)?,
                alert: r.get(1)?,
                state: r.get(2)?,
                attempts: r.get(3)?,
                last_error: r.get(4)?,
                created_at: from_micros(r.get(5)?).ok_or_else(|| conversion(5, "time"))?,
                sent_at: r
                    .get::<_, Option<i64>>(6)?
                    .map(|v| from_micros(v).ok_or_else(|| conversion(6, "time")))
                    .transpose()?,
                payload: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_login_failure(&mut self, keys: &[&str], at: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM login_failures WHERE at < ?1",
            [micros(at - chrono::Duration::days(1))],
        )?;
        for key in keys {
            tx.execute(
                "INSERT INTO login_failures (key, at) VALUES (?1, ?2)",
                params![key, micros(at)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn login_failures(
        &mut self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let (n, oldest): (i64, Option<i64>) = self.conn.query_row(
            "SELECT count(*), min(at) FROM login_failures WHERE key = ?1 AND at > ?2",
            params![key, micros(since)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((u64::try_from(n).unwrap_or(0), oldest.and_then(from_micros)))
    }

    fn clear_login_failures(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM login_failures WHERE key = ?1", [key])?;
        Ok(())
    }

    fn generation(&mut self) -> Result<u64, StoreError> {
        setting_number(&self.conn, "generation")
    }

    fn is_blank(&mut self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM imports) + (SELECT count(*) FROM escalations)
                  + (SELECT count(*) FROM users) + (SELECT count(*) FROM api_tokens)
                  + (SELECT count(*) FROM source_profiles)",
            [],
            |r| r.get::<_, i64>(0),
        )? == 0)
    }

    fn dump(&mut self, sink: &mut dyn DumpSink) -> Result<(), StoreError> {
        // One read transaction: a consistent snapshot even while another process writes.
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(&format!("{SELECT_IMPORTS} GROUP BY i.id ORDER BY i.id"))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                sink.import(&import_record(r)?)?;
            }
            let mut stmt = tx.prepare(&format!("{SELECT_ESCALATION} ORDER BY id"))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                sink.escalation(&escalation_row(r)?)?;
            }
            let mut stmt = tx.prepare(
                "SELECT id, name, role, created_at, password_hash FROM users ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                sink.user(&StoredUser {
                    user: user_row(r)?,
                    password_hash: r.get(4)?,
                })?;
            }
            let mut stmt = tx.prepare(
                "SELECT id, user_id, label, token_hash, created_at, last_used FROM api_tokens ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                sink.token(&StoredToken {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    label: r.get(2)?,
                    token_hash: r.get(3)?,
                    created_at: time_at(r, 4)?,
                    last_used: optional_time_at(r, 5)?,
                })?;
            }
            let mut stmt = tx.prepare(
                "SELECT name, header, mapping, created_at FROM source_profiles ORDER BY name",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                sink.profile(&SourceProfile {
                    name: r.get(0)?,
                    header: r.get(1)?,
                    mapping: r.get(2)?,
                    created_at: time_at(r, 3)?,
                })?;
            }
        }
        tx.finish()?;
        Ok(())
    }

    fn restore<'s>(&'s mut self) -> Result<Box<dyn RestoreTx + 's>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteRestore { tx }))
    }
}

const SELECT_USER: &str = "SELECT id, name, role, created_at FROM users";

const SELECT_ESCALATION: &str = "SELECT id, import_id, ticket, client, product, region, severity,
    opened, closed, status, summary, email, phone FROM escalations";

fn escalation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Escalation> {
    let label = |col| -> rusqlite::Result<Label> {
        Label::new(r.get_ref(col)?.as_str()?).map_err(|_| conversion(col, "label"))
    };
    Ok(Escalation {
        id: r.get(0)?,
        import_id: r.get(1)?,
        fields: NewEscalation {
            ticket: text_at(r, 2)?,
            client: text_at(r, 3)?.ok_or_else(|| conversion(3, "client"))?,
            product: label(4)?,
            region: label(5)?,
            severity: severity_at(r, 6)?,
            opened: date_at(r, 7)?,
            closed: optional_date_at(r, 8)?,
            status: text_at(r, 9)?,
            summary: text_at(r, 10)?,
            email: text_at(r, 11)?,
            phone: text_at(r, 12)?,
        },
    })
}

fn optional_date_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Option<NaiveDate>> {
    match r.get_ref(col)?.as_str_or_null()? {
        None => Ok(None),
        Some(_) => date_at(r, col).map(Some),
    }
}

fn optional_time_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match r.get_ref(col)?.as_str_or_null()? {
        None => Ok(None),
        Some(_) => time_at(r, col).map(Some),
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
}

/// Writes a dump into a blank store; ids are kept so references survive.
struct SqliteRestore<'c> {
    tx: Transaction<'c>,
}

impl DumpSink for SqliteRestore<'_> {
    fn import(&mut self, r: &ImportRecord) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO imports (id, source, format, encoding, imported_at, rows_imported, rows_replaced, rows_rejected)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.id,
                r.source,
                r.format,
                r.encoding,
                r.imported_at.to_rfc3339(),
                sql_count(r.rows_imported),
                sql_count(r.rows_replaced),
                sql_count(r.rows_rejected)
            ],
        )?;
        Ok(())
    }

    fn escalation(&mut self, e: &Escalation) -> Result<(), StoreError> {
        let ids = [Value::from(e.id), Value::from(e.import_id)];
        self.tx
            .prepare_cached(
                "INSERT INTO escalations
                 (id, import_id, ticket, client, product, region, severity, opened, closed, status, summary, email, phone)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params_from_iter(ids.into_iter().chain(escalation_values(&e.fields))))?;
        Ok(())
    }

    fn user(&mut self, u: &StoredUser) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO users (id, name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                u.user.id,
                u.user.name,
                u.user.role.as_str(),
                u.password_hash,
                u.user.created_at.to_rfc3339()
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, t: &StoredToken) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at, last_used)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                t.id,
                t.user_id,
                t.label,
                t.token_hash,
                t.created_at.to_rfc3339(),
                t.last_used.map(|d| d.to_rfc3339())
            ],
        )?;
        Ok(())
    }

    fn profile(&mut self, p: &SourceProfile) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO source_profiles (name, header, mapping, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![p.name, p.header, p.mapping, to_micros(p.created_at).to_rfc3339()],
        )?;
        Ok(())
    }
}

impl RestoreTx for SqliteRestore<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        // The restored imports carry no generation: every index reads the whole store.
        let generation = bump_generation(&self.tx)?;
        raise_rebuild_from(&self.tx, generation)?;
        self.tx.commit()?;
        Ok(())
    }
}

fn time_at(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s = r.get_ref(col)?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| conversion(col, "time"))
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: role.parse().map_err(|_| conversion(2, "role"))?,
        created_at: time_at(r, 3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_size(path: &Path) -> i64 {
        Connection::open(path)
            .and_then(|c| c.pragma_query_value(None, "page_size", |r| r.get(0)))
            .expect("page size")
    }

    /// A new store takes [`PAGE_SIZE`]; one made before, with SQLite's 4 KiB pages in WAL mode,
    /// opens and migrates as it is, its pages and its rows kept.
    #[test]
    fn a_new_store_takes_the_page_size_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().expect("dir");
        let new = dir.path().join("new.db");
        drop(SqliteStore::open(&new).expect("new store"));
        assert_eq!(page_size(&new), i64::from(PAGE_SIZE));

        let old = dir.path().join("old.db");
        {
            let c = Connection::open(&old).expect("old");
            c.pragma_update(None, "journal_mode", "WAL").expect("wal");
            c.execute_batch("CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('row')")
                .expect("rows");
        }
        assert_eq!(page_size(&old), 4096);
        let mut store = SqliteStore::open(&old).expect("old store opens");
        assert_eq!(store.generation().expect("migrated"), 0);
        drop(store);
        assert_eq!(page_size(&old), 4096);
        let kept: String = Connection::open(&old)
            .and_then(|c| c.query_row("SELECT v FROM kept", [], |r| r.get(0)))
            .expect("kept");
        assert_eq!(kept, "row");
    }

    #[test]
    fn days_are_written_as_chrono_writes_them() {
        let mut d = NaiveDate::from_ymd_opt(1, 1, 1).expect("day");
        // Every 37th day from year 1 to 9999, and past both ends.
        while let Some(next) = d.checked_add_days(chrono::Days::new(37)) {
            assert_eq!(Day::of(d).to_string(), d.format("%Y-%m-%d").to_string());
            d = next;
            if chrono::Datelike::year(&d) > 10_001 {
                break;
            }
        }
        let early = NaiveDate::from_ymd_opt(-44, 3, 15).expect("day");
        assert_eq!(
            Day::of(early).to_string(),
            early.format("%Y-%m-%d").to_string()
        );
    }
}
