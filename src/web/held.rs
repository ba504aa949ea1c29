//! Files the server holds for a while on a user's behalf: an upload waiting for its mapping to be
//! confirmed (nothing is stored before that), and the rejected rows of an import, to download.
//!
//! They live in this process's memory only: never on disk or in the database, gone on restart,
//! after [`UPLOAD_TTL`] / [`REJECTED_TTL`], or when the cap needs the room (oldest first). Each is
//! reachable only by the account that left it, under a random 256-bit id; another account gets
//! the answer an id that never was gets. Behind a load balancer the mapping step needs the requests of
//! one session to reach one instance (the README's nginx example hashes the session cookie).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;

/// How long an upload waits for its mapping.
pub const UPLOAD_TTL: Duration = Duration::from_secs(30 * 60);
/// How long an import's rejected rows can be downloaded.
pub const REJECTED_TTL: Duration = Duration::from_secs(60 * 60);
/// Files one account may have held at once, of each kind; the oldest goes first.
const PER_OWNER: usize = 3;

/// An upload waiting for its mapping.
#[derive(Debug)]
pub struct HeldUpload {
    pub name: String,
    pub bytes: Bytes,
}

/// An import's rejected rows as CSV, with the name to download them under.
#[derive(Debug)]
pub struct RejectedRows {
    pub file_name: String,
    pub csv: Vec<u8>,
}

/// Both kinds, sharing one byte budget each.
pub struct HeldFiles {
    pub uploads: Held<HeldUpload>,
    pub rejected: Held<RejectedRows>,
}

impl HeldFiles {
    /// Room for `max_bytes` of uploads and as much again of rejected rows.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            uploads: Held::new(UPLOAD_TTL, max_bytes),
            rejected: Held::new(REJECTED_TTL, max_bytes),
        }
    }
}

struct Entry<T> {
    owner: String,
    at: Instant,
    bytes: usize,
    value: Arc<T>,
}

/// A value out of its [`Held`] for a while.
pub struct Taken<T> {
    id: String,
    entry: Entry<T>,
}

impl<T> Taken<T> {
    pub fn value(&self) -> &Arc<T> {
        &self.entry.value
    }
}

/// Values held for their owners, by id.
pub struct Held<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
    ttl: Duration,
    max_bytes: usize,
}

impl<T> Held<T> {
    pub fn new(ttl: Duration, max_bytes: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            max_bytes,
        }
    }

    /// Holds `value` (costing `bytes`) for `owner`; its id, or `None` when it alone is larger
    /// than the budget.
    pub fn put(&self, owner: &str, value: T, bytes: usize) -> Option<String> {
        if bytes > self.max_bytes {
            return None;
        }
        let mut entries = self.lock();
        self.expire(&mut entries);
        // Room by age: first this owner's oldest beyond the per-owner count, then anyone's.
        loop {
            let mine = entries.values().filter(|e| e.owner == owner).count();
            let used: usize = entries.values().map(|e| e.bytes).sum();
            if mine < PER_OWNER && used + bytes <= self.max_bytes {
                break;
            }
            let oldest = entries
                .iter()
                .filter(|(_, e)| mine < PER_OWNER || e.owner == owner)
                .min_by_key(|(_, e)| e.at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => entries.remove(&id),
                None => break,
            };
        }
        let id = crate::auth::random_token();
        entries.insert(
            id.clone(),
            Entry {
                owner: owner.to_owned(),
                at: Instant::now(),
                bytes,
                value: Arc::new(value),
            },
        );
        Some(id)
    }

    /// The value `owner` holds under `id`, if it is still held.
    pub fn get(&self, owner: &str, id: &str) -> Option<Arc<T>> {
        let mut entries = self.lock();
        self.expire(&mut entries);
        entries
            .get(id)
            .filter(|e| e.owner == owner)
            .map(|e| e.value.clone())
    }

    /// Takes `owner`'s value under `id` out, so that a second request for it (a double click on
    /// Import) finds nothing; [`Held::put_back`] returns it if the work failed.
    pub fn take(&self, owner: &str, id: &str) -> Option<Taken<T>> {
        let mut entries = self.lock();
        self.expire(&mut entries);
        if entries.get(id).is_none_or(|e| e.owner != owner) {
            return None;
        }
        entries.remove(id).map(|entry| Taken {
            id: id.to_owned(),
            entry,
        })
    }

    /// Holds a taken value again, under its id and with its first time.
    pub fn put_back(&self, taken: Taken<T>) {
        self.lock().insert(taken.id, taken.entry);
    }

    /// Lets go of `owner`'s value under `id` (after its import, or on cancel).
    pub fn remove(&self, owner: &str, id: &str) {
        let mut entries = self.lock();
        if entries.get(id).is_some_and(|e| e.owner == owner) {
            entries.remove(id);
        }
    }

    fn expire(&self, entries: &mut HashMap<String, Entry<T>>) {
        let ttl = self.ttl;
        entries.retain(|_, e| e.at.elapsed() < ttl);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<T>>> {
        // A panic while holding the lock leaves the map whole (every change is one call).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_reaches_a_held_value() {
        let h = Held::new(Duration::from_secs(60), 100);
        let id = h.put("ann", 1, 10).expect("held");
        assert_eq!(h.get("ann", &id).as_deref(), Some(&1));
        assert!(h.get("bob", &id).is_none());
        h.remove("bob", &id);
        assert!(
            h.get("ann", &id).is_some(),
            "another account cannot drop it"
        );
        assert!(h.take("bob", &id).is_none());
        let taken = h.take("ann", &id).expect("taken");
        assert!(h.take("ann", &id).is_none(), "taken once");
        h.put_back(taken);
        h.remove("ann", &id);
        assert!(h.get("ann", &id).is_none());
    }

    #[test]
    fn the_budget_and_the_per_owner_count_drop_the_oldest() {
        let h = Held::new(Duration::from_secs(60), 100);
        assert!(h.put("ann", 0, 101).is_none(), "larger than the budget");
        let a = h.put("ann", 1, 60).expect("held");
        let b = h.put("bob", 2, 60).expect("held");
        assert!(h.get("ann", &a).is_none(), "the oldest made room");
        assert!(h.get("bob", &b).is_some());
        let ids: Vec<String> = (0..4).map(|i| h.put("cy", i, 1).expect("held")).collect();
        assert!(h.get("cy", &ids[0]).is_none(), "three per account");
        assert!(ids[1..].iter().all(|id| h.get("cy", id).is_some()));
        assert!(h.get("bob", &b).is_some(), "others keep theirs");
    }

    #[test]
    fn a_value_expires() {
        let h = Held::new(Duration::ZERO, 100);
        let id = h.put("ann", 1, 1).expect("held");
        assert!(h.get("ann", &id).is_none());
    }
}
