//! Connections: `postgres://` URLs, plain or TLS (rustls, the server always verified).

use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// How connections are made.
#[derive(Clone)]
pub(super) enum Tls {
    Plain,
    /// TLS, the server's certificate verified.
    Verified(MakeRustlsConnect),
}

/// Opens a connection. Whatever the server answered when it would not open (it refuses
/// connections to this database, it has too many clients, the password is wrong), the store
/// cannot be reached until that changes: that is [`StoreError::Unavailable`], never another kind
/// of failure, whatever SQLSTATE came with it.
pub(super) fn open_connection(config: &Config, tls: &Tls) -> Result<Client, StoreError> {
    match tls {
        Tls::Plain => config.connect(NoTls),
        Tls::Verified(t) => config.connect(t.clone()),
    }
    .map_err(|e| StoreError::Unavailable(super::described(&e)))
}

/// Parses a `postgres://` URL into the connection settings EscaMap uses.
pub(super) fn parse_url(url: &str, application: &str) -> Result<(Config, Tls), StoreError> {
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
pub(super) fn tls_connector() -> Result<MakeRustlsConnect, StoreError> {
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

#[cfg(test)]
mod tests {
    use crate::store::testing::{ScratchDb, replace_db};
    use crate::store::{PgStore, Store, StoreError};

    /// A server that will not open a connection (the database refuses connections, or is not
    /// there) answers with a SQLSTATE of its own (55000, 3D000), not a connection class: the
    /// store is still unreachable, and the reason the server gave is kept.
    #[test]
    fn a_connection_the_server_refuses_is_unavailable_with_its_reason() {
        let Some(db) = ScratchDb::create("a_connection_the_server_refuses_is_unavailable") else {
            return;
        };
        let mut store = PgStore::connect(db.url()).expect("connect");
        store.generation().expect("the store answers");
        db.admin(&format!(
            "ALTER DATABASE {0} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}'",
            db.name()
        ));
        match store.generation() {
            Err(StoreError::Unavailable(why)) => assert!(
                why.contains("not currently accepting connections"),
                "the server's reason is kept: {why}"
            ),
            other => panic!("a database refusing connections: {other:?}"),
        }
        let missing = replace_db(db.url(), &format!("{}_missing", db.name()));
        match PgStore::connect(&missing) {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("does not exist"), "{why}"),
            Err(other) => panic!("a database that is not there: {other:?}"),
            Ok(_) => panic!("a database that is not there: connected"),
        }
    }
}
