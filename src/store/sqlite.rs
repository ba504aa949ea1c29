//! SQLite: one file, WAL, foreign keys on, migrations tracked in `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{ImportRecord, ImportTx, IndexRow, NewImport, Store, StoreError, parse_iso_day};
use crate::domain::{Escalation, Label, NewEscalation, Severity, Text};

/// Migrations in order; the position is the schema version. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];

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
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    /// A private in-memory store, for tests and one-off runs.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self { conn })
    }
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

struct SqliteImport<'c> {
    tx: Transaction<'c>,
    import_id: i64,
    imported: u64,
    replaced: u64,
}

const INSERT: &str = "INSERT INTO escalations
    (import_id, ticket, client, product, region, severity, opened, closed, status, summary, email, phone)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
const UPDATE: &str = "UPDATE escalations SET
    import_id = ?1, ticket = ?2, client = ?3, product = ?4, region = ?5, severity = ?6, opened = ?7,
    closed = ?8, status = ?9, summary = ?10, email = ?11, phone = ?12
    WHERE id = ?13";

fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl ImportTx for SqliteImport<'_> {
    fn write(&mut self, r: &NewEscalation) -> Result<bool, StoreError> {
        let existing: Option<i64> = match &r.ticket {
            Some(t) => self
                .tx
                .prepare_cached("SELECT id FROM escalations WHERE ticket = ?1")?
                .query_row([t.as_str()], |row| row.get(0))
                .optional()?,
            None => None,
        };
        let opt = |t: &Option<Text>| t.as_ref().map(|t| t.as_str().to_owned());
        let values = params![
            self.import_id,
            opt(&r.ticket),
            r.client.as_str(),
            r.product.as_str(),
            r.region.as_str(),
            r.severity.score(),
            day(r.opened),
            r.closed.map(day),
            opt(&r.status),
            opt(&r.summary),
            opt(&r.email),
            opt(&r.phone),
        ];
        self.imported += 1;
        match existing {
            Some(id) => {
                let mut stmt = self.tx.prepare_cached(UPDATE)?;
                let mut all: Vec<&dyn rusqlite::ToSql> = values.to_vec();
                all.push(&id);
                stmt.execute(all.as_slice())?;
                self.replaced += 1;
                Ok(true)
            }
            None => {
                self.tx.prepare_cached(INSERT)?.execute(values)?;
                Ok(false)
            }
        }
    }

    fn commit(self: Box<Self>, rejected: u64) -> Result<ImportRecord, StoreError> {
        let this = *self;
        this.tx.execute(
            "UPDATE imports SET rows_imported = ?1, rows_replaced = ?2, rows_rejected = ?3 WHERE id = ?4",
            params![sql_count(this.imported), sql_count(this.replaced), sql_count(rejected), this.import_id],
        )?;
        let record = this.tx.query_row(
            &format!("{SELECT_IMPORTS} WHERE i.id = ?1 GROUP BY i.id"),
            [this.import_id],
            import_record,
        )?;
        this.tx.commit()?;
        Ok(record)
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
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO imports (source, format, encoding, imported_at, rows_imported, rows_replaced, rows_rejected)
             VALUES (?1, ?2, ?3, ?4, 0, 0, 0)",
            params![import.source, import.format, import.encoding, Utc::now().to_rfc3339()],
        )?;
        let import_id = tx.last_insert_rowid();
        Ok(Box::new(SqliteImport {
            tx,
            import_id,
            imported: 0,
            replaced: 0,
        }))
    }

    fn imports(&self) -> Result<Vec<ImportRecord>, StoreError> {
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
        let rows = tx.execute("DELETE FROM escalations WHERE import_id = ?1", [id])?;
        if tx.execute("DELETE FROM imports WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit()?;
        Ok(rows as u64)
    }

    fn scan(&self, f: &mut dyn FnMut(IndexRow<'_>)) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, client, product, region, severity, opened, closed, ticket, status FROM escalations")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(IndexRow {
                id: r.get(0)?,
                client: r.get_ref(1)?.as_str()?,
                product: r.get_ref(2)?.as_str()?,
                region: r.get_ref(3)?.as_str()?,
                severity: severity_at(r, 4)?,
                opened: date_at(r, 5)?,
                closed: match r.get_ref(6)?.as_str_or_null()? {
                    None => None,
                    Some(_) => Some(date_at(r, 6)?),
                },
                ticket: r.get_ref(7)?.as_str_or_null()?,
                status: r.get_ref(8)?.as_str_or_null()?,
            });
        }
        Ok(())
    }

    fn escalations(&self, ids: &[i64]) -> Result<Vec<Escalation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, import_id, ticket, client, product, region, severity, opened, closed, status,
                    summary, email, phone
             FROM escalations WHERE id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let found = stmt
                .query_row([id], |r| {
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
                            closed: match r.get_ref(8)?.as_str_or_null()? {
                                None => None,
                                Some(_) => Some(date_at(r, 8)?),
                            },
                            status: text_at(r, 9)?,
                            summary: text_at(r, 10)?,
                            email: text_at(r, 11)?,
                            phone: text_at(r, 12)?,
                        },
                    })
                })
                .optional()?;
            out.extend(found);
        }
        Ok(out)
    }

    fn count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM escalations", [], |r| count_at(r, 0))?)
    }
}
