//! Answers remembered for as long as the index they were computed from is the one in use: the
//! index is immutable and swapped whole after each commit, so "the same index" (the same `Arc`)
//! is exactly "nothing changed". Only a weak reference to the index is kept, so a cached answer
//! never holds an old index in memory.

use std::sync::{Arc, Mutex, Weak};

use crate::analytics::Index;

/// Entries kept per index; the oldest goes first.
const ENTRIES: usize = 16;

/// The index the entries were computed from, and the entries.
struct Entries<K, V> {
    index: Weak<Index>,
    answers: Vec<(K, Arc<V>)>,
}

pub struct PerIndex<K, V> {
    inner: Mutex<Entries<K, V>>,
}

impl<K, V> Default for PerIndex<K, V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Entries {
                index: Weak::new(),
                answers: Vec::new(),
            }),
        }
    }
}

impl<K: PartialEq, V> PerIndex<K, V> {
    /// The answer for `key` on `index`, computed by `make` unless remembered.
    pub fn get_or(&self, index: &Arc<Index>, key: K, make: impl FnOnce() -> V) -> Arc<V> {
        {
            let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if Weak::ptr_eq(&guard.index, &Arc::downgrade(index))
                && let Some((_, v)) = guard.answers.iter().find(|(k, _)| *k == key)
            {
                return v.clone();
            }
        }
        // Computed outside the lock: two requests may both compute it once after a change.
        let value = Arc::new(make());
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !Weak::ptr_eq(&guard.index, &Arc::downgrade(index)) {
            guard.index = Arc::downgrade(index);
            guard.answers.clear();
        }
        if guard.answers.len() >= ENTRIES {
            guard.answers.remove(0);
        }
        guard.answers.push((key, value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_lives_as_long_as_its_index() {
        let cache: PerIndex<u32, String> = PerIndex::default();
        let a = Arc::new(Index::default());
        let calls = std::cell::Cell::new(0);
        let get = |ix: &Arc<Index>, k: u32| {
            cache.get_or(ix, k, || {
                calls.set(calls.get() + 1);
                format!("{k}")
            })
        };
        assert_eq!(*get(&a, 1), "1");
        assert_eq!(*get(&a, 1), "1");
        assert_eq!(*get(&a, 2), "2");
        let b = Arc::new(Index::default());
        assert_eq!(*get(&b, 1), "1");
        assert_eq!(
            calls.get(),
            3,
            "the same index answers from memory, a new one does not"
        );
    }
}
