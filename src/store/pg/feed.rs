//! The change feed: LISTEN on a connection of its own, reconnecting with backoff.

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config};

use super::connect::{Tls, open_connection, parse_url};
use super::{CHANNEL, instance_id};
use crate::store::StoreError;

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
