//! The listener the server runs on: plain TCP or TLS (rustls), with a cap on open connections and
//! a cap per client address.
//!
//! An acceptor task takes a permit from a semaphore before each `accept`, so at the cap new
//! clients wait in the kernel's backlog instead of consuming memory; the permit lives as long as
//! the connection. An address that already holds its share of connections has further ones closed
//! at once, so one address cannot take every slot (a trusted proxy's address is exempt: all its
//! clients share it). TLS handshakes run in their own tasks with a timeout, so a slow or stalled
//! client cannot hold up anyone else's connection.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A connection and the permits it holds (the global one and its address's share), counted
/// among the open ones while it lives.
pub struct Conn {
    stream: Stream,
    _permit: OwnedSemaphorePermit,
    _share: Option<AddressShare>,
    _open: Open,
}

/// Where the listener counts: the connections open now, and those refused at once.
#[derive(Clone)]
pub struct ConnCounters {
    pub open: prometheus::IntGauge,
    pub refused: prometheus::IntCounter,
}

/// One open connection, counted from its acceptance (a TLS handshake included) to its close.
struct Open(prometheus::IntGauge);

impl Open {
    fn new(gauge: &prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The caps the listener enforces.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Open connections at most.
    pub max: usize,
    /// Open connections from one address at most.
    pub per_address: usize,
    /// Addresses exempt from the per-address cap (trusted reverse proxies).
    pub exempt: Vec<IpAddr>,
}

type Counts = Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>;

/// One of an address's connections; gives its place back when the connection closes.
struct AddressShare {
    ip: IpAddr,
    counts: Counts,
}

impl AddressShare {
    /// A place for `ip`, or `None` when it holds `cap` connections already.
    fn take(counts: &Counts, ip: IpAddr, cap: usize) -> Option<Self> {
        let mut map = counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Self {
            ip,
            counts: counts.clone(),
        })
    }
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut map = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The client's socket address, as seen by the server (before any trusted proxy header).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

pub struct EscaListener {
    rx: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for EscaListener {
    /// Stops accepting (and closes the socket) when the server stops.
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Loads a PEM certificate chain and private key for `--tls-cert`/`--tls-key`.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> io::Result<TlsAcceptor> {
    let bad = |what: &str, p: &std::path::Path, e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {}: {e}", p.display()),
        )
    };
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("unreadable certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", cert, &"empty"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("unreadable key", key, &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS setup failed for", cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate and key do not match:", cert, &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl EscaListener {
    pub fn new(
        tcp: TcpListener,
        tls: Option<TlsAcceptor>,
        limits: ConnLimits,
        counters: ConnCounters,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let permits = Arc::new(Semaphore::new(limits.max.max(1)));
        let counts: Counts = Arc::default();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let (tcp_stream, addr) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let share = if limits.exempt.contains(&addr.ip()) {
                    None
                } else {
                    match AddressShare::take(&counts, addr.ip(), limits.per_address.max(1)) {
                        Some(share) => Some(share),
                        None => {
                            // Closed at once: the permit goes back with it.
                            counters.refused.inc();
                            tracing::debug!(client = %addr.ip(), "connection refused: this address holds its share");
                            continue;
                        }
                    }
                };
                let open = Open::new(&counters.open);
                let _ = tcp_stream.set_nodelay(true);
                let conn_tx = tx.clone();
                match &tls {
                    None => {
                        if conn_tx
                            .send((
                                Conn {
                                    stream: Stream::Plain(tcp_stream),
                                    _permit: permit,
                                    _share: share,
                                    _open: open,
                                },
                                addr,
                            ))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            match tokio::time::timeout(
                                HANDSHAKE_TIMEOUT,
                                acceptor.accept(tcp_stream),
                            )
                            .await
                            {
                                Ok(Ok(s)) => {
                                    let _ = conn_tx
                                        .send((
                                            Conn {
                                                stream: Stream::Tls(Box::new(s)),
                                                _permit: permit,
                                                _share: share,
                                                _open: open,
                                            },
                                            addr,
                                        ))
                                        .await;
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        });
                    }
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Self {
            rx,
            local,
            acceptor,
        })
    }

    /// The next connection, with the client's address.
    pub async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The acceptor task only ends when this listener is dropped; wait for shutdown.
            None => std::future::pending().await,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().stream {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
