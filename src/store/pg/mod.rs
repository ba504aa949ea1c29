//! PostgreSQL: one database shared by several `escamap serve` instances.
//!
//! - Migrations run in one transaction under an advisory lock, so instances starting together
//!   neither race nor half-migrate; the version lives in `escamap_schema`.
//! - Imports are written in bulk, inside the import's one transaction, by a thread that holds one
//!   binary `COPY` open while the file is still being read ([`import`]). Into a table with rows
//!   they go to a temporary staging table and are merged into `escalations` by one
//!   `INSERT ... ON CONFLICT (ticket)` (the last row with a ticket wins, as on SQLite); into an
//!   empty one they are loaded straight in, its indexes dropped and built again at the commit.
//! - Every committed import, delete or restore sends `NOTIFY escamap_changes` in its transaction;
//!   [`watch_changes`] runs on each instance, LISTENs on its own connection and tells the
//!   application to refresh its index. The payload names the instance that made the change, so
//!   an instance does not reload for its own changes (it already has).
//! - A lost connection is reopened by the next call; a single statement that finds its
//!   connection dead is retried once on a fresh one, so a database restart costs no request that
//!   arrives after the database is back. Transactions are never retried: they report
//!   [`StoreError::Unavailable`] and change nothing.
//!
//! The jobs live apart: [`connect`] (connections and TLS), [`import`] (bulk writes with
//! `COPY`), [`feed`] (the change feed); this file has the store itself.
//!
//! - `sslmode=require` (or `verify-ca`/`verify-full`, read as the same) connects with TLS
//!   (rustls) and always verifies the server's certificate against the system's CAs and the PEM
//!   file in `ESCAMAP_DB_CA_FILE`: stricter than libpq's `require`, which would accept any
//!   certificate. Without it (`disable`, or the default `prefer`) connections are plain, so a
//!   local server with a self-signed certificate keeps working.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Config, Row, Transaction};

mod connect;
mod feed;
mod import;

use connect::{Tls, open_connection, parse_url};
pub use feed::{Change, watch_changes};
use import::{CopyRows, PgImport};

use super::{
    Alert, AlertMessage, ClaimedMessage, Delivery, DumpSink, ImportRecord, ImportTx, IndexRow,
    NewAlert, NewImport, NewSubscription, NewView, RestoreTx, SavedView, Scanned, SourceProfile,
    Store, StoreError, StoredToken, StoredUser, Subscription, Target, TokenRecord,
    to_micros as micros,
};
use crate::domain::{Escalation, Label, NewEscalation, Role, Severity, Text, User, UserName};

/// Migrations in order; the position is the schema version. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_source_profiles.sql"),
    include_str!("../../../migrations/postgres/0003_saved_views.sql"),
    include_str!("../../../migrations/postgres/0004_subscriptions.sql"),
    include_str!("../../../migrations/postgres/0005_alerts_and_webhooks.sql"),
    include_str!("../../../migrations/postgres/0006_import_rows_without_foreign_key.sql"),
    include_str!("../../../migrations/postgres/0007_index_changes.sql"),
    include_str!("../../../migrations/postgres/0008_ticket_bytewise.sql"),
];

/// The channel every committed change is announced on.
pub const CHANNEL: &str = "escamap_changes";

/// Key of the advisory lock that serialises migrations ("escamap" in ASCII).
const MIGRATION_LOCK: i64 = 0x0065_7363_616d_6170;

/// Rows buffered before they are sent to the server with one `COPY`.
const COPY_BATCH: usize = 20_000;

/// Identifies this process in change notifications.
fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("{:016x}", fastrand::u64(..)))
}

pub struct PgStore {
    config: Config,
    tls: Tls,
    client: Option<Client>,
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if let Some(code) = e.code() {
            let c = code.code();
            return if c == "23505" || c == "23503" {
                // unique or foreign-key violation
                StoreError::Conflict(e.to_string())
            } else if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") {
                // connection exceptions, server shutting down or starting, out of resources
                StoreError::Unavailable(described(&e))
            } else {
                StoreError::Other(described(&e))
            };
        }
        let text = described(&e);
        let local = [
            "error serializing",
            "error deserializing",
            "invalid column",
            "query returned",
        ]
        .iter()
        .any(|p| text.starts_with(p));
        if local {
            StoreError::Other(text)
        } else {
            // Closed connections, I/O errors, timeouts, failed connects: the database is away.
            StoreError::Unavailable(text)
        }
    }
}

/// The error's words followed by its causes': its own are generic ("db error", "error connecting
/// to server"); the causes say why.
fn described(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn bad(what: &str) -> StoreError {
    StoreError::Other(format!("unexpected {what} in the store"))
}

/// Reads a column, turning a type mismatch into an error instead of a panic.
/// A target from its three columns (e-mail, webhook, secret) starting at `i`.
fn target(row: &Row, i: usize) -> Result<Target, StoreError> {
    Target::from_columns(col(row, i)?, col(row, i + 1)?, col(row, i + 2)?)
        .ok_or_else(|| StoreError::Other(format!("column {i}: neither an e-mail nor a webhook")))
}

fn col<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Other(format!("column {i}: {e}")))
}

fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| bad("count"))
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let (config, tls) = parse_url(url, "escamap")?;
        let mut store = Self {
            config,
            tls,
            client: None,
        };
        migrate(store.client()?)?;
        Ok(store)
    }

    /// The open connection, reopened when it was lost.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let c = open_connection(&self.config, &self.tls)?;
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no connection".into()))
    }

    /// Runs `f` on the connection. When the connection proves dead (the database restarted, a
    /// proxy dropped it), `f` runs once more on a fresh one: `f` is one statement or a read, so
    /// the statement that failed never ran.
    fn run<T>(
        &mut self,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let was_open = self.client.as_ref().is_some_and(|c| !c.is_closed());
        let first = f(self.client()?).map_err(StoreError::from);
        match first {
            Err(StoreError::Unavailable(_)) if was_open => {
                self.client = None;
                let second = f(self.client()?).map_err(StoreError::from);
                self.forget_if_unavailable(second)
            }
            other => self.forget_if_unavailable(other),
        }
    }

    fn forget_if_unavailable<T>(&mut self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(r, Err(StoreError::Unavailable(_))) {
            self.client = None;
        }
        r
    }

    /// Starts a transaction; a dead connection is replaced first (nothing has run on it yet).
    fn transaction(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self.live_client()?.transaction()?)
    }

    /// The connection, checked to answer (and replaced when it does not) before a transaction
    /// starts on it.
    fn live_client(&mut self) -> Result<&mut Client, StoreError> {
        let alive = match self.client.as_mut() {
            Some(c) if !c.is_closed() => c.is_valid(Duration::from_secs(5)).is_ok(),
            _ => false,
        };
        if !alive {
            self.client = None;
        }
        self.client()
    }
}

fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS escamap_schema (version INTEGER NOT NULL)")?;
    let current: Option<i32> = match tx.query_opt("SELECT version FROM escamap_schema", &[])? {
        Some(r) => Some(col(&r, 0)?),
        None => None,
    };
    let known = MIGRATIONS.len();
    let done = usize::try_from(current.unwrap_or(0)).unwrap_or(0);
    if done > known {
        return Err(StoreError::Other(format!(
            "the store's schema (version {done}) is newer than this escamap knows ({known}); upgrade escamap"
        )));
    }
    for sql in &MIGRATIONS[done..] {
        tx.batch_execute(sql)?;
    }
    let version = i32::try_from(known).unwrap_or(i32::MAX);
    if current.is_some() {
        tx.execute("UPDATE escamap_schema SET version = $1", &[&version])?;
    } else {
        tx.execute(
            "INSERT INTO escamap_schema (version) VALUES ($1)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Announces a change to the other instances and counts it ([`Store::generation`]), inside the
/// change's transaction: both happen at its commit or not at all. Returns the change's
/// generation. The counter's row stays locked until the commit, so changes take generations in
/// the order they commit: a snapshot that sees generation g sees every change up to g.
/// Called last in a change, so that lock is held briefly.
fn notify(tx: &mut Transaction<'_>, what: &str) -> Result<u64, StoreError> {
    let payload = format!("{} {what}", instance_id());
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    let row = tx.query_one(
        "INSERT INTO settings (key, value) VALUES ('generation', '1')
         ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + 1)::text
         RETURNING value",
        &[],
    )?;
    col::<&str>(&row, 0)?.parse().map_err(|_| bad("generation"))
}

/// Sets the oldest generation an index can catch up from (never lowering it).
fn raise_rebuild_from(tx: &mut Transaction<'_>, generation: u64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ('rebuild_from', $1)
         ON CONFLICT (key) DO UPDATE
         SET value = greatest(settings.value::bigint, EXCLUDED.value::bigint)::text",
        &[&generation.to_string()],
    )?;
    Ok(())
}

fn setting_number(tx: &mut Transaction<'_>, key: &str) -> Result<u64, StoreError> {
    match tx.query_opt("SELECT value FROM settings WHERE key = $1", &[&key])? {
        None => Ok(0),
        Some(r) => col::<&str>(&r, 0)?.parse().map_err(|_| bad(key)),
    }
}

/// Calls `f` for each escalation a query selects (its columns in [`IndexRow`] order).
fn index_rows(
    tx: &mut Transaction<'_>,
    query: &str,
    params: &[&(dyn ToSql + Sync)],
    f: &mut dyn FnMut(IndexRow<'_>),
) -> Result<(), StoreError> {
    let mut rows = tx.query_raw(query, params.iter().copied())?;
    while let Some(r) = rows.next()? {
        f(IndexRow {
            id: col(&r, 0)?,
            client: col(&r, 1)?,
            product: col(&r, 2)?,
            region: col(&r, 3)?,
            severity: severity(col(&r, 4)?)?,
            opened: col::<NaiveDate>(&r, 5)?,
            closed: col(&r, 6)?,
            ticket: col(&r, 7)?,
            status: col(&r, 8)?,
        });
    }
    Ok(())
}

const INDEX_COLUMNS: &str =
    "SELECT id, client, product, region, severity, opened, closed, ticket, status FROM escalations";

const SELECT_IMPORTS: &str = "SELECT i.id, i.source, i.format, i.encoding, i.imported_at,
    i.rows_imported, i.rows_replaced, i.rows_rejected, COUNT(e.id)
    FROM imports i LEFT JOIN escalations e ON e.import_id = i.id";

fn import_record(r: &Row) -> Result<ImportRecord, StoreError> {
    Ok(ImportRecord {
        id: col(r, 0)?,
        source: col(r, 1)?,
        format: col(r, 2)?,
        encoding: col(r, 3)?,
        imported_at: col(r, 4)?,
        rows_imported: count(col(r, 5)?)?,
        rows_replaced: count(col(r, 6)?)?,
        rows_rejected: count(col(r, 7)?)?,
        rows_current: count(col(r, 8)?)?,
    })
}

const SELECT_ESCALATION: &str = "SELECT id, import_id, ticket, client, product, region, severity,
    opened, closed, status, summary, email, phone FROM escalations";

fn severity(v: i16) -> Result<Severity, StoreError> {
    u8::try_from(v)
        .ok()
        .and_then(Severity::from_score)
        .ok_or_else(|| bad("severity"))
}

fn escalation(r: &Row) -> Result<Escalation, StoreError> {
    let text = |i| -> Result<Option<Text>, StoreError> {
        match col::<Option<&str>>(r, i)? {
            None => Ok(None),
            Some(s) => Text::optional(s).map_err(|_| bad("text")),
        }
    };
    let label = |i| -> Result<Label, StoreError> {
        Label::new(col::<&str>(r, i)?).map_err(|_| bad("label"))
    };
    Ok(Escalation {
        id: col(r, 0)?,
        import_id: col(r, 1)?,
        fields: NewEscalation {
            ticket: text(2)?,
            client: text(3)?.ok_or_else(|| bad("client"))?,
            product: label(4)?,
            region: label(5)?,
            severity: severity(col(r, 6)?)?,
            opened: col(r, 7)?,
            closed: col(r, 8)?,
            status: text(9)?,
            summary: text(10)?,
            email: text(11)?,
            phone: text(12)?,
        },
    })
}

const SELECT_USER: &str = "SELECT id, name, role, created_at FROM users";

fn user(r: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: col(r, 0)?,
        name: col(r, 1)?,
        role: col::<&str>(r, 2)?.parse().map_err(|_| bad("role"))?,
        created_at: col(r, 3)?,
    })
}

impl Store for PgStore {
    fn begin_import<'s>(
        &'s mut self,
        import: &NewImport<'_>,
    ) -> Result<Box<dyn ImportTx + 's>, StoreError> {
        self.live_client()?;
        let client = self
            .client
            .take()
            .ok_or_else(|| StoreError::Unavailable("no connection".into()))?;
        Ok(Box::new(PgImport::begin(&mut self.client, client, import)?))
    }

    fn imports(&mut self) -> Result<Vec<ImportRecord>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                &format!("{SELECT_IMPORTS} GROUP BY i.id ORDER BY i.id DESC"),
                &[],
            )
        })?;
        rows.iter().map(import_record).collect()
    }

    fn delete_import(&mut self, id: i64) -> Result<u64, StoreError> {
        let mut tx = self.transaction()?;
        let gone: Vec<i64> = tx
            .query(
                "DELETE FROM escalations WHERE import_id = $1 RETURNING id",
                &[&id],
            )?
            .iter()
            .map(|r| col(r, 0))
            .collect::<Result<_, _>>()?;
        if tx.execute("DELETE FROM imports WHERE id = $1", &[&id])? == 0 {
            return Err(StoreError::NotFound);
        }
        // The generation last (see `notify`), then the ids it retires recorded under it.
        let generation = notify(&mut tx, &format!("delete {id}"))?;
        let at = sql_count(generation);
        tx.execute(
            "INSERT INTO retired (generation, id) SELECT $1, unnest($2::bigint[])",
            &[&at, &gone],
        )?;
        if let Some(oldest) = generation.checked_sub(super::RETIRED_KEPT) {
            tx.execute(
                "DELETE FROM retired WHERE generation <= $1",
                &[&sql_count(oldest)],
            )?;
            raise_rebuild_from(&mut tx, oldest)?;
        }
        tx.commit()?;
        Ok(gone.len() as u64)
    }

    fn scan_changes(
        &mut self,
        since: Option<u64>,
        row: &mut dyn FnMut(IndexRow<'_>),
        retired: &mut dyn FnMut(i64),
    ) -> Result<Scanned, StoreError> {
        let result = (|| {
            // One snapshot for the generation, the rows and the deletions.
            let mut tx = self
                .live_client()?
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let generation = setting_number(&mut tx, "generation")?;
            let rebuild_from = setting_number(&mut tx, "rebuild_from")?;
            let Some(since) = super::can_catch_up(since, rebuild_from, generation) else {
                index_rows(&mut tx, INDEX_COLUMNS, &[], row)?;
                return Ok(Scanned {
                    generation,
                    full: true,
                });
            };
            if since < generation {
                let since = sql_count(since);
                // The imports first, then their rows by the import_id index: asked as one
                // `IN (SELECT …)`, the planner may read the whole table (a fresh bulk load has no
                // statistics yet), 200 ms at a million rows against 2 ms.
                let imports: Vec<i64> = tx
                    .query("SELECT id FROM imports WHERE generation > $1", &[&since])?
                    .iter()
                    .map(|r| col(r, 0))
                    .collect::<Result<_, _>>()?;
                index_rows(
                    &mut tx,
                    &format!("{INDEX_COLUMNS} WHERE import_id = ANY($1)"),
                    &[&imports],
                    row,
                )?;
                for r in tx.query("SELECT id FROM retired WHERE generation > $1", &[&since])? {
                    retired(col(&r, 0)?);
                }
            }
            tx.commit()?;
            Ok(Scanned {
                generation,
                full: false,
            })
        })();
        self.forget_if_unavailable(result)
    }

    fn escalations(&mut self, ids: &[i64]) -> Result<Vec<Escalation>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows =
            self.run(|c| c.query(&format!("{SELECT_ESCALATION} WHERE id = ANY($1)"), &[&ids]))?;
        let mut by_id: HashMap<i64, Escalation> = rows
            .iter()
            .map(|r| escalation(r).map(|e| (e.id, e)))
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    fn count(&mut self) -> Result<u64, StoreError> {
        let row = self.run(|c| c.query_one("SELECT count(*) FROM escalations", &[]))?;
        count(col(&row, 0)?)
    }

    fn user_count(&mut self) -> Result<u64, StoreError> {
        let row = self.run(|c| c.query_one("SELECT count(*) FROM users", &[]))?;
        count(col(&row, 0)?)
    }

    fn insert_user(
        &mut self,
        name: &UserName,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let now = micros(Utc::now());
        let result = self.run(|c| {
            c.query_one(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name.as_str(), &role.as_str(), &password_hash, &now],
            )
        });
        let row = result?;
        Ok(User {
            id: col(&row, 0)?,
            name: name.to_string(),
            role,
            created_at: now,
        })
    }

    fn users(&mut self) -> Result<Vec<User>, StoreError> {
        let rows = self.run(|c| c.query(&format!("{SELECT_USER} ORDER BY lower(name)"), &[]))?;
        rows.iter().map(user).collect()
    }

    fn user_by_name(&mut self, name: &str) -> Result<Option<(User, String)>, StoreError> {
        let row = self.run(|c| {
            c.query_opt(
                "SELECT id, name, role, created_at, password_hash FROM users WHERE lower(name) = lower($1)",
                &[&name],
            )
        })?;
        row.map(|r| Ok((user(&r)?, col(&r, 4)?))).transpose()
    }

    fn delete_user(&mut self, name: &str) -> Result<(), StoreError> {
        match self
            .run(|c| c.execute("DELETE FROM users WHERE lower(name) = lower($1)", &[&name]))?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn set_password(&mut self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.transaction()?;
        let row = tx.query_opt(
            "SELECT id FROM users WHERE lower(name) = lower($1)",
            &[&name],
        )?;
        let id: i64 = col(&row.ok_or(StoreError::NotFound)?, 0)?;
        tx.execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            &[&password_hash, &id],
        )?;
        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&id])?;
        tx.commit()?;
        Ok(())
    }

    fn set_role(&mut self, name: &str, role: Role) -> Result<(), StoreError> {
        match self.run(|c| {
            c.execute(
                "UPDATE users SET role = $1 WHERE lower(name) = lower($2)",
                &[&role.as_str(), &name],
            )
        })? {
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
        let now = micros(now);
        self.run(|c| {
            c.execute(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES ($1, $2, $3, $3)",
                &[&id_hash, &user_id, &now],
            )
        })?;
        Ok(())
    }

    fn session(&mut self, id_hash: &str) -> Result<Option<(User, DateTime<Utc>)>, StoreError> {
        let row = self.run(|c| {
            c.query_opt(
                "SELECT u.id, u.name, u.role, u.created_at, s.last_seen
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
                &[&id_hash],
            )
        })?;
        row.map(|row| Ok((user(&row)?, col(&row, 4)?))).transpose()
    }

    fn touch_session(&mut self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now = micros(now);
        self.run(|c| {
            c.execute(
                "UPDATE sessions SET last_seen = $1 WHERE id_hash = $2",
                &[&now, &id_hash],
            )
        })?;
        Ok(())
    }

    fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.run(|c| c.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash]))?;
        Ok(())
    }

    fn insert_token(
        &mut self,
        user_id: i64,
        label: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let now = micros(now);
        let row = self.run(|c| {
            c.query_one(
                "INSERT INTO api_tokens (user_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&user_id, &label, &token_hash, &now],
            )
        })?;
        col(&row, 0)
    }

    fn token_user(
        &mut self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let now = micros(now);
        let row = self.run(|c| {
            c.query_opt(
                "WITH used AS (UPDATE api_tokens SET last_used = $2 WHERE token_hash = $1 RETURNING user_id)
                 SELECT u.id, u.name, u.role, u.created_at FROM used JOIN users u ON u.id = used.user_id",
                &[&token_hash, &now],
            )
        })?;
        row.map(|r| user(&r)).transpose()
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT t.id, u.name, t.label, t.created_at, t.last_used
                 FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(TokenRecord {
                    id: col(r, 0)?,
                    user: col(r, 1)?,
                    label: col(r, 2)?,
                    created_at: col(r, 3)?,
                    last_used: col(r, 4)?,
                })
            })
            .collect()
    }

    fn delete_token(&mut self, id: i64) -> Result<(), StoreError> {
        match self.run(|c| c.execute("DELETE FROM api_tokens WHERE id = $1", &[&id]))? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn setting_or_insert(&mut self, key: &str, default: &str) -> Result<String, StoreError> {
        self.run(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &default],
            )
        })?;
        let row =
            self.run(|c| c.query_one("SELECT value FROM settings WHERE key = $1", &[&key]))?;
        col(&row, 0)
    }

    fn save_profile(&mut self, p: &SourceProfile) -> Result<(), StoreError> {
        let at = micros(p.created_at);
        let mut tx = self.transaction()?;
        tx.execute(
            "DELETE FROM source_profiles WHERE lower(name) = lower($1)",
            &[&p.name],
        )?;
        tx.execute(
            "INSERT INTO source_profiles (name, header, mapping, created_at) VALUES ($1, $2, $3, $4)",
            &[&p.name, &p.header, &p.mapping, &at],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn profiles(&mut self) -> Result<Vec<SourceProfile>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT name, header, mapping, created_at FROM source_profiles ORDER BY lower(name)",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(SourceProfile {
                    name: col(r, 0)?,
                    header: col(r, 1)?,
                    mapping: col(r, 2)?,
                    created_at: col(r, 3)?,
                })
            })
            .collect()
    }

    fn delete_profile(&mut self, name: &str) -> Result<(), StoreError> {
        match self.run(|c| {
            c.execute(
                "DELETE FROM source_profiles WHERE lower(name) = lower($1)",
                &[&name],
            )
        })? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn save_view(&mut self, v: &NewView) -> Result<SavedView, StoreError> {
        let at = micros(v.created_at);
        let mut tx = self.transaction()?;
        tx.execute(
            "DELETE FROM saved_views WHERE lower(name) = lower($1)",
            &[&v.name],
        )?;
        let row = tx.query_one(
            "INSERT INTO saved_views (name, owner, shared, query, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
            &[&v.name, &v.owner, &v.shared, &v.query, &at],
        )?;
        let id: i64 = col(&row, 0)?;
        tx.commit()?;
        Ok(v.saved(id))
    }

    fn views(&mut self) -> Result<Vec<SavedView>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT id, name, owner, shared, query, created_at FROM saved_views ORDER BY lower(name)",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(SavedView {
                    id: col(r, 0)?,
                    name: col(r, 1)?,
                    owner: col(r, 2)?,
                    shared: col(r, 3)?,
                    query: col(r, 4)?,
                    created_at: col(r, 5)?,
                })
            })
            .collect()
    }

    fn delete_view(&mut self, name: &str) -> Result<(), StoreError> {
        match self.run(|c| {
            c.execute(
                "DELETE FROM saved_views WHERE lower(name) = lower($1)",
                &[&name],
            )
        })? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    fn add_subscription(&mut self, n: &NewSubscription) -> Result<Subscription, StoreError> {
        let at = micros(n.created_at);
        let (email, webhook, secret) = n.target.columns();
        let row = self.run(|c| {
            c.query_one(
                "INSERT INTO subscriptions (\"user\", view, schedule, tz, email, webhook, secret, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&n.user, &n.view, &n.schedule, &n.tz, &email, &webhook, &secret, &at],
            )
        })?;
        Ok(n.saved(col(&row, 0)?))
    }

    fn subscriptions(&mut self) -> Result<Vec<Subscription>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT id, \"user\", view, schedule, tz, email, webhook, secret, created_at
                 FROM subscriptions ORDER BY id",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(Subscription {
                    id: col(r, 0)?,
                    user: col(r, 1)?,
                    view: col(r, 2)?,
                    schedule: col(r, 3)?,
                    tz: col(r, 4)?,
                    target: target(r, 5)?,
                    created_at: col(r, 8)?,
                })
            })
            .collect()
    }

    fn remove_subscription(&mut self, id: i64) -> Result<(), StoreError> {
        match self.run(|c| c.execute("DELETE FROM subscriptions WHERE id = $1", &[&id]))? {
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
        let (slot, now, lease_until) = (micros(slot), micros(now), micros(lease_until));
        let row = self.run(|c| {
            c.query_opt(
                "INSERT INTO deliveries (subscription_id, slot, state, attempts, lease_until, next_try)
                 VALUES ($1, $2, 'sending', 1, $4, $3)
                 ON CONFLICT (subscription_id, slot) DO UPDATE
                   SET state = 'sending', attempts = deliveries.attempts + 1, lease_until = excluded.lease_until
                   WHERE deliveries.state <> 'sent' AND deliveries.lease_until <= $3 AND deliveries.next_try <= $3
                 RETURNING attempts",
                &[&subscription, &slot, &now, &lease_until],
            )
        })?;
        row.map(|r| {
            let n: i32 = col(&r, 0)?;
            Ok(u32::try_from(n).unwrap_or(0))
        })
        .transpose()
    }

    fn finish_delivery(
        &mut self,
        subscription: i64,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        failed: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        let (slot, now) = (micros(slot), micros(now));
        match failed {
            None => self.run(|c| {
                c.execute(
                    "UPDATE deliveries SET state = 'sent', sent_at = $3, last_error = NULL, lease_until = $3
                     WHERE subscription_id = $1 AND slot = $2",
                    &[&subscription, &slot, &now],
                )
            })?,
            Some((error, retry_at)) => {
                let retry_at = micros(retry_at);
                self.run(|c| {
                    c.execute(
                        "UPDATE deliveries SET state = 'failed', last_error = $4, lease_until = $3, next_try = $5
                         WHERE subscription_id = $1 AND slot = $2",
                        &[&subscription, &slot, &now, &error, &retry_at],
                    )
                })?
            }
        };
        Ok(())
    }

    fn deliveries(&mut self, subscription: i64) -> Result<Vec<Delivery>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT slot, state, attempts, last_error, sent_at FROM deliveries
                 WHERE subscription_id = $1 ORDER BY slot DESC",
                &[&subscription],
            )
        })?;
        rows.iter()
            .map(|r| {
                let attempts: i32 = col(r, 2)?;
                Ok(Delivery {
                    slot: col(r, 0)?,
                    state: col(r, 1)?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    last_error: col(r, 3)?,
                    sent_at: col(r, 4)?,
                })
            })
            .collect()
    }

    fn add_alert(&mut self, a: &NewAlert) -> Result<Alert, StoreError> {
        let at = micros(a.created_at);
        let (email, webhook, secret) = a.target.columns();
        let kinds = a.kinds.join(",");
        let row = self.run(|c| {
            c.query_one(
                "INSERT INTO alerts (\"user\", kinds, query, min_score, email, webhook, secret, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&a.user, &kinds, &a.query, &a.min_score, &email, &webhook, &secret, &at],
            )
        })?;
        Ok(a.saved(col(&row, 0)?))
    }

    fn alerts(&mut self) -> Result<Vec<Alert>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT id, \"user\", kinds, query, min_score, email, webhook, secret, created_at
                 FROM alerts ORDER BY id",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(Alert {
                    id: col(r, 0)?,
                    user: col(r, 1)?,
                    kinds: super::split_kinds(&col::<String>(r, 2)?),
                    query: col(r, 3)?,
                    min_score: col(r, 4)?,
                    target: target(r, 5)?,
                    created_at: col(r, 8)?,
                })
            })
            .collect()
    }

    fn remove_alert(&mut self, id: i64) -> Result<(), StoreError> {
        match self.run(|c| c.execute("DELETE FROM alerts WHERE id = $1", &[&id]))? {
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
        let now = micros(now);
        let mut tx = self.transaction()?;
        // An insert that meets another instance's uncommitted one waits for it, then does nothing:
        // each finding is new to exactly one of them.
        let inserted = tx.query(
            "INSERT INTO alert_findings (alert_id, finding) SELECT $1, unnest($2::text[])
             ON CONFLICT (alert_id, finding) DO NOTHING RETURNING finding",
            &[&alert, &findings],
        )?;
        let inserted: std::collections::HashSet<String> = inserted
            .iter()
            .map(|r| col::<String>(r, 0))
            .collect::<Result<_, _>>()?;
        let new: Vec<usize> = (0..findings.len())
            .filter(|&i| inserted.contains(&findings[i]))
            .collect();
        let mut message = None;
        if !new.is_empty()
            && let Some(body) = payload(&new)
        {
            let row = tx.query_one(
                "INSERT INTO alert_messages (alert_id, payload, state, attempts, lease_until, next_try, created_at)
                 VALUES ($1, $2, 'queued', 0, $3, $3, $3) RETURNING id",
                &[&alert, &body, &now],
            )?;
            let id: i64 = col(&row, 0)?;
            let keys: Vec<&str> = new.iter().map(|&i| findings[i].as_str()).collect();
            tx.execute(
                "UPDATE alert_findings SET message_id = $3 WHERE alert_id = $1 AND finding = ANY($2)",
                &[&alert, &keys, &id],
            )?;
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
        let (now, lease_until) = (micros(now), micros(lease_until));
        let row = self.run(|c| {
            c.query_opt(
                "UPDATE alert_messages SET state = 'sending', attempts = attempts + 1, lease_until = $2
                 WHERE id = (SELECT id FROM alert_messages
                             WHERE state <> 'sent' AND lease_until <= $1 AND next_try <= $1
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, alert_id, payload, attempts",
                &[&now, &lease_until],
            )
        })?;
        row.map(|r| {
            Ok(ClaimedMessage {
                id: col(&r, 0)?,
                alert: col(&r, 1)?,
                payload: col(&r, 2)?,
                attempt: u32::try_from(col::<i32>(&r, 3)?).unwrap_or(0),
            })
        })
        .transpose()
    }

    fn finish_message(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        failed: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        let now = micros(now);
        match failed {
            None => self.run(|c| {
                c.execute(
                    "UPDATE alert_messages SET state = 'sent', sent_at = $2, last_error = NULL, lease_until = $2
                     WHERE id = $1",
                    &[&id, &now],
                )
            })?,
            Some((error, retry_at)) => {
                let retry_at = micros(retry_at);
                self.run(|c| {
                    c.execute(
                        "UPDATE alert_messages SET state = 'failed', last_error = $3, lease_until = $2, next_try = $4
                         WHERE id = $1",
                        &[&id, &now, &error, &retry_at],
                    )
                })?
            }
        };
        Ok(())
    }

    fn alert_messages(&mut self, alert: i64) -> Result<Vec<AlertMessage>, StoreError> {
        let rows = self.run(|c| {
            c.query(
                "SELECT id, alert_id, state, attempts, last_error, created_at, sent_at, payload
                 FROM alert_messages WHERE alert_id = $1 ORDER BY id",
                &[&alert],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(AlertMessage {
                    id: col(r, 0)?,
                    alert: col(r, 1)?,
                    state: col(r, 2)?,
                    attempts: u32::try_from(col::<i32>(r, 3)?).unwrap_or(0),
                    last_error: col(r, 4)?,
                    created_at: col(r, 5)?,
                    sent_at: col(r, 6)?,
                    payload: col(r, 7)?,
                })
            })
            .collect()
    }

    fn record_login_failure(&mut self, keys: &[&str], at: DateTime<Utc>) -> Result<(), StoreError> {
        let at = micros(at);
        let keys: Vec<&str> = keys.to_vec();
        let stale = at - chrono::Duration::days(1);
        self.run(|c| {
            c.execute(
                "WITH gone AS (DELETE FROM login_failures WHERE at < $3)
                 INSERT INTO login_failures (key, at) SELECT k, $2 FROM unnest($1::text[]) AS k",
                &[&keys, &at, &stale],
            )
        })?;
        Ok(())
    }

    fn login_failures(
        &mut self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let row = self.run(|c| {
            c.query_one(
                "SELECT count(*), min(at) FROM login_failures WHERE key = $1 AND at > $2",
                &[&key, &since],
            )
        })?;
        Ok((count(col(&row, 0)?)?, col(&row, 1)?))
    }

    fn clear_login_failures(&mut self, key: &str) -> Result<(), StoreError> {
        self.run(|c| c.execute("DELETE FROM login_failures WHERE key = $1", &[&key]))?;
        Ok(())
    }

    fn generation(&mut self) -> Result<u64, StoreError> {
        let row =
            self.run(|c| c.query_opt("SELECT value FROM settings WHERE key = 'generation'", &[]))?;
        match row {
            None => Ok(0),
            Some(r) => col::<&str>(&r, 0)?.parse().map_err(|_| bad("generation")),
        }
    }

    fn is_blank(&mut self) -> Result<bool, StoreError> {
        let row = self.run(|c| {
            c.query_one(
                "SELECT (SELECT count(*) FROM imports) + (SELECT count(*) FROM escalations)
                      + (SELECT count(*) FROM users) + (SELECT count(*) FROM api_tokens)
                      + (SELECT count(*) FROM source_profiles)",
                &[],
            )
        })?;
        Ok(col::<i64>(&row, 0)? == 0)
    }

    fn dump(&mut self, sink: &mut dyn DumpSink) -> Result<(), StoreError> {
        // One snapshot for the whole dump, so it is consistent even while others write.
        let mut tx = self
            .client()?
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        for r in tx
            .query(
                &format!("{SELECT_IMPORTS} GROUP BY i.id ORDER BY i.id"),
                &[],
            )?
            .iter()
        {
            sink.import(&import_record(r)?)?;
        }
        let none: [&(dyn ToSql + Sync); 0] = [];
        let mut rows = tx.query_raw(&format!("{SELECT_ESCALATION} ORDER BY id"), none)?;
        while let Some(r) = rows.next()? {
            sink.escalation(&escalation(&r)?)?;
        }
        drop(rows);
        for r in tx
            .query(
                "SELECT id, name, role, created_at, password_hash FROM users ORDER BY id",
                &[],
            )?
            .iter()
        {
            sink.user(&StoredUser {
                user: user(r)?,
                password_hash: col(r, 4)?,
            })?;
        }
        for r in tx
            .query(
                "SELECT id, user_id, label, token_hash, created_at, last_used FROM api_tokens ORDER BY id",
                &[],
            )?
            .iter()
        {
            sink.token(&StoredToken {
                id: col(r, 0)?,
                user_id: col(r, 1)?,
                label: col(r, 2)?,
                token_hash: col(r, 3)?,
                created_at: col(r, 4)?,
                last_used: col(r, 5)?,
            })?;
        }
        for r in tx
            .query(
                "SELECT name, header, mapping, created_at FROM source_profiles ORDER BY name",
                &[],
            )?
            .iter()
        {
            sink.profile(&SourceProfile {
                name: col(r, 0)?,
                header: col(r, 1)?,
                mapping: col(r, 2)?,
                created_at: col(r, 3)?,
            })?;
        }
        Ok(())
    }

    fn restore<'s>(&'s mut self) -> Result<Box<dyn RestoreTx + 's>, StoreError> {
        let tx = self.transaction()?;
        Ok(Box::new(PgRestore {
            tx,
            rows: CopyRows::new("escalations", &["id", "import_id"]),
        }))
    }
}

struct PgRestore<'c> {
    tx: Transaction<'c>,
    rows: CopyRows,
}

impl PgRestore<'_> {
    fn flush(&mut self) -> Result<(), StoreError> {
        self.rows.send(&mut self.tx)
    }
}

impl DumpSink for PgRestore<'_> {
    fn import(&mut self, r: &ImportRecord) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO imports (id, source, format, encoding, imported_at, rows_imported, rows_replaced, rows_rejected)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &r.id,
                &r.source,
                &r.format,
                &r.encoding,
                &micros(r.imported_at),
                &sql_count(r.rows_imported),
                &sql_count(r.rows_replaced),
                &sql_count(r.rows_rejected),
            ],
        )?;
        Ok(())
    }

    fn escalation(&mut self, e: &Escalation) -> Result<(), StoreError> {
        self.rows.push(&[e.id, e.import_id], &e.fields)?;
        if self.rows.len() >= COPY_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn user(&mut self, u: &StoredUser) -> Result<(), StoreError> {
        self.flush()?;
        self.tx.execute(
            "INSERT INTO users (id, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                &u.user.id,
                &u.user.name,
                &u.user.role.as_str(),
                &u.password_hash,
                &micros(u.user.created_at),
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, t: &StoredToken) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at, last_used)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &t.id,
                &t.user_id,
                &t.label,
                &t.token_hash,
                &micros(t.created_at),
                &t.last_used.map(micros),
            ],
        )?;
        Ok(())
    }

    fn profile(&mut self, p: &SourceProfile) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO source_profiles (name, header, mapping, created_at) VALUES ($1, $2, $3, $4)",
            &[&p.name, &p.header, &p.mapping, &micros(p.created_at)],
        )?;
        Ok(())
    }
}

impl RestoreTx for PgRestore<'_> {
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.flush()?;
        let mut this = *self;
        // New rows continue after the copied ids.
        for table in ["imports", "escalations", "users", "api_tokens"] {
            this.tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(max(id), 0) + 1, false) FROM {table}"
                ),
                &[],
            )?;
        }
        // The restored imports carry no generation: every index reads the whole store.
        let generation = notify(&mut this.tx, "restore")?;
        raise_rebuild_from(&mut this.tx, generation)?;
        this.tx.commit()?;
        Ok(())
    }
}
