//! PostgreSQL: one database shared by several `escamap serve` instances.
//!
//! - Migrations run in one transaction under an advisory lock, so instances starting together
//!   neither race nor half-migrate; the version lives in `escamap_schema`.
//! - Imports are written in bulk: rows are buffered and sent with binary `COPY` into a temporary
//!   staging table, then merged into `escalations` by one `INSERT ... ON CONFLICT (ticket)` (the
//!   last row with a ticket wins, as on SQLite), all inside the import's one transaction.
//! - Every committed import, delete or restore sends `NOTIFY escamap_changes` in its transaction;
//!   [`watch_changes`] runs on each instance, LISTENs on its own connection and tells the
//!   application to refresh its index. The payload names the instance that made the change, so
//!   an instance does not reload for its own changes (it already has).
//! - A lost connection is reopened by the next call; a single statement that finds its
//!   connection dead is retried once on a fresh one, so a database restart costs no request that
//!   arrives after the database is back. Transactions are never retried: they report
//!   [`StoreError::Unavailable`] and change nothing.
//!
//! - `sslmode=require` (or `verify-ca`/`verify-full`, read as the same) connects with TLS
//!   (rustls) and always verifies the server's certificate against the system's CAs and the PEM
//!   file in `ESCAMAP_DB_CA_FILE`: stricter than libpq's `require`, which would accept any
//!   certificate. Without it (`disable`, or the default `prefer`) connections are plain, so a
//!   local server with a self-signed certificate keeps working.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::SslMode;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Row, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    DumpSink, ImportRecord, ImportTx, IndexRow, NewImport, RestoreTx, Store, StoreError,
    StoredToken, StoredUser, TokenRecord, to_micros as micros,
};
use crate::domain::{Escalation, Label, NewEscalation, Role, Severity, Text, User, UserName};

/// Migrations in order; the position is the schema version. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];

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

/// How connections are made.
#[derive(Clone)]
enum Tls {
    Plain,
    /// TLS, the server's certificate verified.
    Verified(MakeRustlsConnect),
}

fn open_connection(config: &Config, tls: &Tls) -> Result<Client, postgres::Error> {
    match tls {
        Tls::Plain => config.connect(NoTls),
        Tls::Verified(t) => config.connect(t.clone()),
    }
}

/// Parses a `postgres://` URL into the connection settings EscaMap uses.
fn parse_url(url: &str, application: &str) -> Result<(Config, Tls), StoreError> {
    let url = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config: Config = url
        .parse()
        .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
    let tls = if config.get_ssl_mode() == SslMode::Require {
        Tls::Verified(tls_connector()?)
    } else {
        config.ssl_mode(SslMode::Disable);
        Tls::Plain
    };
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    Ok((config, tls))
}

/// A rustls connector trusting the system's CAs and those in `ESCAMAP_DB_CA_FILE`.
fn tls_connector() -> Result<MakeRustlsConnect, StoreError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let setup = |what: String| StoreError::Other(format!("PostgreSQL TLS: {what}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = std::env::var_os("ESCAMAP_DB_CA_FILE") {
        let shown = std::path::Path::new(&path).display().to_string();
        let pem = std::fs::read(&path).map_err(|e| setup(format!("cannot read {shown}: {e}")))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| setup(format!("{shown}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| setup(format!("{shown}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(setup(format!("no certificate in {shown}")));
        }
    }
    if roots.is_empty() {
        return Err(setup(
            "sslmode=require, but no CA is trusted: install the system's CA certificates or set ESCAMAP_DB_CA_FILE".into(),
        ));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
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
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Other(e.to_string())
            };
        }
        // The error's own text is generic ("error performing TLS handshake"); its causes say why.
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
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

fn bad(what: &str) -> StoreError {
    StoreError::Other(format!("unexpected {what} in the store"))
}

/// Reads a column, turning a type mismatch into an error instead of a panic.
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
        let alive = match self.client.as_mut() {
            Some(c) if !c.is_closed() => c.is_valid(Duration::from_secs(5)).is_ok(),
            _ => false,
        };
        if !alive {
            self.client = None;
        }
        Ok(self.client()?.transaction()?)
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
/// change's transaction: both happen at its commit or not at all.
fn notify(tx: &mut Transaction<'_>, what: &str) -> Result<(), StoreError> {
    let payload = format!("{} {what}", instance_id());
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ('generation', '1')
         ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + 1)::text",
        &[],
    )?;
    Ok(())
}

// ----- bulk writes -----

const ESCALATION_COLUMNS: &str =
    "ticket, client, product, region, severity, opened, closed, status, summary, email, phone";
const ESCALATION_TYPES: [Type; 11] = [
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
fn copy_rows(
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

struct PgImport<'c> {
    tx: Transaction<'c>,
    /// The import's row as first written; the counts are filled in at commit.
    record: ImportRecord,
    import_id: i64,
    buffer: Vec<(Vec<i64>, NewEscalation)>,
    seq: i64,
}

impl PgImport<'_> {
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
    fn write(&mut self, row: &NewEscalation) -> Result<(), StoreError> {
        self.seq += 1;
        self.buffer.push((vec![self.seq], row.clone()));
        if self.buffer.len() >= COPY_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>, rejected: u64) -> Result<ImportRecord, StoreError> {
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
        notify(tx, &format!("import {}", this.import_id))?;
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
        Ok(record)
    }
}

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
        let mut tx = self.transaction()?;
        let now = micros(Utc::now());
        let row = tx.query_one(
            "INSERT INTO imports (source, format, encoding, imported_at, rows_imported, rows_replaced, rows_rejected)
             VALUES ($1, $2, $3, $4, 0, 0, 0) RETURNING id",
            &[&import.source, &import.format, &import.encoding, &now],
        )?;
        let import_id = col(&row, 0)?;
        let record = ImportRecord {
            id: import_id,
            source: import.source.to_owned(),
            format: import.format.to_owned(),
            encoding: import.encoding.to_owned(),
            imported_at: now,
            rows_imported: 0,
            rows_replaced: 0,
            rows_rejected: 0,
            rows_current: 0,
        };
        tx.batch_execute(
            "CREATE TEMP TABLE escamap_staging (
                seq BIGINT NOT NULL, ticket TEXT, client TEXT NOT NULL, product TEXT NOT NULL,
                region TEXT NOT NULL, severity SMALLINT NOT NULL, opened DATE NOT NULL, closed DATE,
                status TEXT, summary TEXT, email TEXT, phone TEXT
             ) ON COMMIT DROP",
        )?;
        Ok(Box::new(PgImport {
            tx,
            record,
            import_id,
            buffer: Vec::with_capacity(COPY_BATCH),
            seq: 0,
        }))
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
        let rows = tx.execute("DELETE FROM escalations WHERE import_id = $1", &[&id])?;
        if tx.execute("DELETE FROM imports WHERE id = $1", &[&id])? == 0 {
            return Err(StoreError::NotFound);
        }
        notify(&mut tx, &format!("delete {id}"))?;
        tx.commit()?;
        Ok(rows)
    }

    fn scan(&mut self, f: &mut dyn FnMut(IndexRow<'_>)) -> Result<(), StoreError> {
        let result = (|| {
            let c = self.client()?;
            let none: [&(dyn ToSql + Sync); 0] = [];
            let mut rows = c.query_raw(
                "SELECT id, client, product, region, severity, opened, closed, ticket, status FROM escalations",
                none,
            )?;
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

    fn create_user(
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
        match result {
            Ok(row) => Ok(User {
                id: col(&row, 0)?,
                name: name.to_string(),
                role,
                created_at: now,
            }),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "an account named {name} exists already"
            ))),
            Err(e) => Err(e),
        }
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

    fn session_user(
        &mut self,
        id_hash: &str,
        idle: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let row = self.run(|c| {
            c.query_opt(
                "SELECT u.id, u.name, u.role, u.created_at, s.last_seen
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
                &[&id_hash],
            )
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (found, last): (User, DateTime<Utc>) = (user(&row)?, col(&row, 4)?);
        if now - last > idle {
            self.delete_session(id_hash)?;
            return Ok(None);
        }
        // Refresh at most once a minute: a page view should not always be a write.
        if now - last > chrono::Duration::seconds(60) {
            let now = micros(now);
            self.run(|c| {
                c.execute(
                    "UPDATE sessions SET last_seen = $1 WHERE id_hash = $2",
                    &[&now, &id_hash],
                )
            })?;
        }
        Ok(Some(found))
    }

    fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.run(|c| c.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash]))?;
        Ok(())
    }

    fn create_token(
        &mut self,
        user_id: i64,
        label: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        let now = micros(now);
        let row = self.run(|c| {
            c.query_one(
                "INSERT INTO api_tokens (user_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&user_id, &label, &token_hash, &now],
            )
        })?;
        let id: i64 = col(&row, 0)?;
        self.tokens()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(StoreError::NotFound)
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
                      + (SELECT count(*) FROM users) + (SELECT count(*) FROM api_tokens)",
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
        Ok(())
    }

    fn restore<'s>(&'s mut self) -> Result<Box<dyn RestoreTx + 's>, StoreError> {
        let tx = self.transaction()?;
        Ok(Box::new(PgRestore {
            tx,
            buffer: Vec::with_capacity(COPY_BATCH),
        }))
    }
}

struct PgRestore<'c> {
    tx: Transaction<'c>,
    buffer: Vec<(Vec<i64>, NewEscalation)>,
}

impl PgRestore<'_> {
    fn flush(&mut self) -> Result<(), StoreError> {
        copy_rows(
            &mut self.tx,
            "escalations",
            &[("id", Type::INT8), ("import_id", Type::INT8)],
            &self.buffer,
        )?;
        self.buffer.clear();
        Ok(())
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
        self.buffer
            .push((vec![e.id, e.import_id], e.fields.clone()));
        if self.buffer.len() >= COPY_BATCH {
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
        notify(&mut this.tx, "restore")?;
        this.tx.commit()?;
        Ok(())
    }
}

/// What [`watch_changes`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Another instance committed an import, delete or restore.
    Committed,
    /// The watch connection was (re)established: changes may have been missed meanwhile.
    Connected,
}

/// Watches the store for changes committed by other instances, on a thread of its own with its
/// own connection, and calls `on_change` for each burst of them. `on_change` returns whether it
/// caught up; when it did not (the database went away mid-refresh), it is called again a second
/// later until it does. A lost connection is reopened with backoff, forever, and `on_change` is
/// told ([`Change::Connected`]) since changes may have been missed meanwhile.
///
/// The first connection is made, and listening, before this returns: whatever the caller loads
/// after that is at least as new as anything the feed will not report.
pub fn watch_changes(
    url: &str,
    mut on_change: impl FnMut(Change) -> bool + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let (config, tls) = parse_url(url, "escamap-watch")?;
    let own = format!("{} ", instance_id());
    let listen = move |config: &Config, tls: &Tls| -> Result<Client, StoreError> {
        let mut c = open_connection(config, tls)?;
        c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(c)
    };
    let mut first = Some(listen(&config, &tls)?);
    std::thread::Builder::new()
        .name("escamap-watch".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(200);
            let mut was_connected = true;
            loop {
                let (mut client, mut pending) = match first.take() {
                    Some(c) => (c, false),
                    None => match listen(&config, &tls) {
                        Ok(c) => {
                            if !was_connected {
                                tracing::info!("the store's change feed is back");
                            }
                            was_connected = true;
                            backoff = Duration::from_millis(200);
                            (c, !on_change(Change::Connected))
                        }
                        Err(e) => {
                            if was_connected {
                                tracing::warn!(error = %e, "lost the store's change feed; retrying");
                                was_connected = false;
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(2));
                            continue;
                        }
                    },
                };
                let mut last_check = Instant::now();
                loop {
                    let mut changed = false;
                    {
                        let mut notes = client.notifications();
                        let first = notes.timeout_iter(Duration::from_millis(500)).next();
                        if let Ok(Some(n)) = first {
                            changed |= !n.payload().starts_with(&own);
                            // Take what else has arrived without waiting: one refresh per burst.
                            let mut more = notes.iter();
                            while let Ok(Some(n)) = more.next() {
                                changed |= !n.payload().starts_with(&own);
                            }
                        }
                    }
                    if changed || pending {
                        pending = !on_change(Change::Committed);
                    }
                    if client.is_closed() {
                        break;
                    }
                    if last_check.elapsed() > Duration::from_secs(10) {
                        if client.is_valid(Duration::from_secs(3)).is_err() {
                            break;
                        }
                        last_check = Instant::now();
                    }
                }
            }
        })
        .map_err(|e| StoreError::Other(format!("cannot start the change watcher: {e}")))
}
