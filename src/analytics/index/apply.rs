//! Taking a change into the index without reading the whole store again.
//!
//! A change is the rows it wrote (new escalations, or new versions of stored ones: a re-import
//! keeps the store id) and the ids it deleted. [`Index::apply`] makes the index that holds the
//! old one's rows minus every id the change touched, plus the change's rows: one merge of two
//! runs sorted by (opened, id), the dictionaries extended by the new values (and rid of those no
//! escalation has any more), the period bases moved when the first day moves, the new tickets
//! ranked among the old ones. It costs one pass over the columns, not a scan of the store, a
//! sort and a ranking of every ticket.
//!
//! The merged order is kept as runs (so many old rows in a row, then so many of the change's):
//! a change of new rows only finds each new row's place by a binary search, and a column whose
//! old values stay as they are (most of them, most of the time) is copied a run at a time. The
//! new index can be built in the memory of one no longer in use ([`Spare`], [`Index::apply_into`]):
//! memory the allocator has just mapped costs a page fault every 4 KiB, about as much again as
//! the copying.
//!
//! Building an index from scratch is applying every row to an empty one, so there is one rule
//! for both, and the result is canonical (see [`Index`]): a test follows random changes and
//! checks the index equals the one built from the rows it ends with.

use std::collections::HashSet;

use super::{
    Dict, Index, IndexBuilder, LAST, Tickets, close_month, month_of, natural_cmp, natural_key,
    quarter_of_month, resolve_days, week_of,
};

/// Marks a position in the merged order that comes from the change, not the old index.
const NEW: u32 = 1 << 31;

impl Index {
    /// The index after a change: `delta` holds the rows the change wrote, `retired` the ids it
    /// deleted. A row in `delta` whose id the index holds replaces it. `None` only when the
    /// result could not be indexed (2^31 rows, or an index that kept no tickets to rank new ones
    /// among): rebuild from the store then.
    pub fn apply(&self, delta: IndexBuilder, retired: &[i64]) -> Option<Index> {
        self.apply_into(delta, retired, &mut Spare::default())
    }

    /// [`Index::apply`], building the new index in the memory `spare` holds where it can (and
    /// leaving its own scratch memory there for the next one).
    pub fn apply_into(
        &self,
        delta: IndexBuilder,
        retired: &[i64],
        spare: &mut Spare,
    ) -> Option<Index> {
        let (n, m) = (self.len(), delta.len());
        if n + m >= NEW as usize {
            return None;
        }
        // A change of new escalations only (ids past every id the index holds, nothing
        // deleted), the usual import, touches no old row: one pass for the largest id instead
        // of a lookup per row.
        let only_new = retired.is_empty()
            && self
                .ids
                .iter()
                .max()
                .is_none_or(|&top| delta.ids.iter().all(|&id| id > top));
        // The change's rows in (opened, id) order.
        let key = |k: u32| (delta.day[k as usize], delta.ids[k as usize]);
        let (order, places) = by_day_then_id(&delta.day, &delta.ids);
        // The old rows the change retires (every id it touches), and the merged order of the old
        // rows that stay and the change's (ids are unique: every id in the change was taken out
        // of the old rows), as runs: most of it is long runs of old rows.
        let mut removed = Vec::new();
        let runs = if only_new {
            // Every old row stays: where each new row goes is a binary search.
            Runs::inserting(n, order, |p, k| (self.day[p], self.ids[p]) < key(k)).placed(places)
        } else {
            let touched = Touched::new(delta.ids.iter().chain(retired).copied());
            let mut kept = pick(&mut spare.u32s, n);
            emptied(&mut kept, n);
            for p in 0..n as u32 {
                if touched.contains(self.ids[p as usize]) {
                    removed.push(p);
                } else {
                    kept.push(p);
                }
            }
            let mut merged = pick(&mut spare.u32s, kept.len() + m);
            emptied(&mut merged, n + m);
            let (mut a, mut b) = (0, 0);
            while a < kept.len() && b < m {
                let p = kept[a] as usize;
                if (self.day[p], self.ids[p]) < key(order[b]) {
                    merged.push(kept[a]);
                    a += 1;
                } else {
                    merged.push(NEW | order[b]);
                    b += 1;
                }
            }
            merged.extend_from_slice(&kept[a..]);
            merged.extend(order[b..].iter().map(|&k| NEW | k));
            let runs = Runs::of(&merged, order);
            spare.u32s.extend([kept, merged]);
            runs
        };

        let dims = [
            (&self.clients, &self.client, &delta.clients, &delta.client),
            (
                &self.products,
                &self.product,
                &delta.products,
                &delta.product,
            ),
            (&self.regions, &self.region, &delta.regions, &delta.region),
            (&self.statuses, &self.status, &delta.statuses, &delta.status),
        ];
        let [clients, products, regions, statuses] = dims.map(|(dict, col, add, add_col)| {
            let (dict, old_map, add_map) = merge_dict(dict, col, &removed, add);
            let into = pick(&mut spare.u32s, runs.len);
            let new = |k: usize| add_map[add_col[k] as usize];
            let codes = if is_identity(&old_map) {
                runs.copy(into, col, new)
            } else {
                runs.map(into, |p| old_map[col[p] as usize], new)
            };
            (dict, codes)
        });

        let empty = Tickets::default();
        let old_tickets = match &self.tickets {
            Some(t) => t,
            None if runs.old().all(|p| self.ticket_rank[p] == LAST) => &empty,
            None => return None,
        };
        let ranked = merge_tickets(old_tickets, &self.ticket_rank, &removed, &delta, spare);
        let into = pick(&mut spare.u32s, runs.len);
        let new_rank = |k: usize| ranked.new[k];
        let ticket_rank = if is_identity(&ranked.old) {
            runs.copy(into, &self.ticket_rank, new_rank)
        } else {
            runs.map(
                into,
                |p| match self.ticket_rank[p] {
                    LAST => LAST,
                    r => ranked.old[r as usize],
                },
                new_rank,
            )
        };

        // Period codes are relative to the first escalation's periods: when the first day
        // moves, the old rows' codes move by the same amount.
        let first_day = runs.first().map(|row| match row {
            Ok(p) => self.day[p],
            Err(k) => delta.day[k],
        });
        let month_base = first_day.map_or(0, month_of);
        let quarter_base = quarter_of_month(month_base);
        let week_base = first_day.map_or(0, week_of);
        let rel = |p: i32, base: i32| u32::try_from(p - base).unwrap_or(0);
        let shift = |code: u32, old_base: i32, base: i32| {
            u32::try_from(i64::from(code) + i64::from(old_base) - i64::from(base)).unwrap_or(0)
        };
        let new_month: Vec<i32> = delta.day.iter().map(|&d| month_of(d)).collect();
        let same_months = month_base == self.month_base;

        // A period column: copied while its base stays, else every old code moved by as much.
        let mut period = |old: &[u32], old_base: i32, base: i32, new: &dyn Fn(usize) -> u32| {
            let into = pick(&mut spare.u32s, runs.len);
            if old_base == base {
                runs.copy(into, old, new)
            } else {
                runs.map(into, |p| shift(old[p], old_base, base), new)
            }
        };
        let month = period(&self.month, self.month_base, month_base, &|k| {
            rel(new_month[k], month_base)
        });
        let quarter = period(&self.quarter, self.quarter_base, quarter_base, &|k| {
            rel(quarter_of_month(new_month[k]), quarter_base)
        });
        let week = period(&self.week, self.week_base, week_base, &|k| {
            rel(week_of(delta.day[k]), week_base)
        });
        let index = Index {
            ids: runs.copy(pick(&mut spare.i64s, runs.len), &self.ids, |k| delta.ids[k]),
            day: runs.copy(pick(&mut spare.i32s, runs.len), &self.day, |k| delta.day[k]),
            severity: runs.copy(pick(&mut spare.u8s, runs.len), &self.severity, |k| {
                delta.severity[k]
            }),
            closed: runs.copy(pick(&mut spare.u32s, runs.len), &self.closed, |k| {
                delta.closed[k]
            }),
            resolve: runs.copy(pick(&mut spare.u32s, runs.len), &self.resolve, |k| {
                resolve_days(delta.day[k], delta.closed[k])
            }),
            close_month: {
                let into = pick(&mut spare.u16s, runs.len);
                let new = |k: usize| close_month(delta.day[k], delta.closed[k], month_base);
                if same_months {
                    runs.copy(into, &self.close_month, new)
                } else {
                    runs.map(
                        into,
                        |p| close_month(self.day[p], self.closed[p], month_base),
                        new,
                    )
                }
            },
            month,
            quarter,
            week,
            client: clients.1,
            product: products.1,
            region: regions.1,
            status: statuses.1,
            ticket_rank,
            clients: clients.0,
            products: products.0,
            regions: regions.0,
            statuses: statuses.0,
            tickets: ranked.tickets,
            month_base,
            quarter_base,
            week_base,
        };
        spare.u32s.push(ranked.old);
        spare.u32s.push(ranked.new);
        Some(index)
    }
}

/// Memory an index no longer in use leaves for the next one to be built in
/// ([`Index::apply_into`]), by element type. Writing a column into pages written before costs
/// its values; writing it into memory the allocator has just mapped also costs the kernel a
/// fault and a zeroed page every 4 KiB, which for a million rows is about as much again: the
/// allocator seldom hands a freed index's memory to the next one on its own (large blocks are
/// unmapped when freed, and threads allocate from arenas of their own).
#[derive(Default)]
pub struct Spare {
    i64s: Vec<Vec<i64>>,
    i32s: Vec<Vec<i32>>,
    u32s: Vec<Vec<u32>>,
    u16s: Vec<Vec<u16>>,
    u8s: Vec<Vec<u8>>,
    text: Vec<String>,
}

/// The positions `0..day.len()` in (day, id) order, and, when the counting sort placed them
/// (see below), where each row went: `places[k]` is `k`'s position in the order.
///
/// Rows read from a store come in id order with their days scattered over a few thousand days: a
/// counting sort by day then keeps the id order within each day, in two linear passes. At ten
/// million rows the comparison sort it replaces (each comparison two random reads) was a fifth of
/// the index load. Rows in no id order, or days spread far wider than the rows are many, take the
/// comparison sort.
fn by_day_then_id(day: &[i32], ids: &[i64]) -> (Vec<u32>, Option<Vec<u32>>) {
    let m = day.len();
    let key = |k: u32| (day[k as usize], ids[k as usize]);
    let mut order: Vec<u32> = (0..m as u32).collect();
    if order.is_sorted_by_key(|&k| key(k)) {
        return (order, None);
    }
    let (lo, hi) = day
        .iter()
        .fold((i32::MAX, i32::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    let span = usize::try_from(i64::from(hi) - i64::from(lo) + 1).unwrap_or(usize::MAX);
    if !ids.is_sorted() || span > m.saturating_mul(4).max(1 << 16) {
        order.sort_unstable_by_key(|&k| key(k));
        return (order, None);
    }
    let slot = |d: i32| (i64::from(d) - i64::from(lo)) as usize;
    // starts[d] becomes where day d's rows begin, then where its next row goes.
    let mut starts = vec![0u32; span + 1];
    for &d in day {
        starts[slot(d) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut places = Vec::with_capacity(m);
    for (k, &d) in day.iter().enumerate() {
        let at = &mut starts[slot(d)];
        order[*at as usize] = k as u32;
        places.push(*at);
        *at += 1;
    }
    (order, Some(places))
}

/// The spare buffer that best holds `len` values: the smallest that holds them all, else the
/// largest (grown as needed), else a new one.
fn pick<B: Buffer>(pool: &mut Vec<B>, len: usize) -> B {
    let fits = (0..pool.len())
        .filter(|&i| pool[i].room() >= len)
        .min_by_key(|&i| pool[i].room());
    let at = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].room()));
    at.map(|i| pool.swap_remove(i)).unwrap_or_default()
}

/// Empties `v`, to be filled with `len` values: grown, when it must, with room for the changes
/// to come (a vector that grows by doubling would keep twice the index).
fn emptied<T>(v: &mut Vec<T>, len: usize) {
    v.clear();
    if v.capacity() < len {
        v.reserve_exact(with_room(len));
    }
}

/// `len` and a sixteenth more.
fn with_room(len: usize) -> usize {
    len + len / 16
}

/// What [`pick`] chooses among: a buffer and how much it holds without growing.
trait Buffer: Default {
    fn room(&self) -> usize;
}

impl<T> Buffer for Vec<T> {
    fn room(&self) -> usize {
        self.capacity()
    }
}

impl Buffer for String {
    fn room(&self) -> usize {
        self.capacity()
    }
}

impl Spare {
    /// Whether it holds no memory.
    pub fn is_empty(&self) -> bool {
        self.i64s.is_empty() && self.u32s.is_empty()
    }

    /// Memory for the index after `index`: as much as each of its columns, with room to grow,
    /// written (so the kernel has mapped it). So even the first change is built in memory
    /// written before.
    pub fn warm(&mut self, index: &Index) {
        fn copy<T: Copy>(v: &[T]) -> Vec<T> {
            let mut out = Vec::with_capacity(with_room(v.len()));
            out.extend_from_slice(v);
            out
        }
        self.i64s.push(copy(&index.ids));
        self.i32s.push(copy(&index.day));
        self.u8s.push(copy(&index.severity));
        self.u16s.push(copy(&index.close_month));
        for column in [
            &index.client,
            &index.product,
            &index.region,
            &index.resolve,
            &index.month,
            &index.quarter,
            &index.week,
            &index.closed,
            &index.status,
            &index.ticket_rank,
        ] {
            self.u32s.push(copy(column));
        }
        if let Some(t) = &index.tickets {
            let mut text = String::with_capacity(with_room(t.text.len()));
            text.push_str(&t.text);
            self.text.push(text);
            self.u32s.push(copy(&t.ends));
        }
    }

    /// Takes in the memory of `index`, which is no longer in use.
    pub fn take(&mut self, index: Index) {
        let Index {
            ids,
            day,
            client,
            product,
            region,
            severity,
            resolve,
            close_month,
            month,
            quarter,
            week,
            closed,
            status,
            ticket_rank,
            tickets,
            ..
        } = index;
        self.i64s.push(ids);
        self.i32s.push(day);
        self.u8s.push(severity);
        self.u16s.push(close_month);
        self.u32s.extend([
            client,
            product,
            region,
            resolve,
            month,
            quarter,
            week,
            closed,
            status,
            ticket_rank,
        ]);
        if let Some(t) = tickets {
            self.text.push(t.text);
            self.u32s.push(t.ends);
        }
    }
}

/// The merged order as runs: `len` consecutive old rows from position `from`, or (`from` is
/// `NEW | i`) the change's rows `order[i..i + len]`.
struct Runs {
    runs: Vec<(u32, u32)>,
    /// The change's rows in merged order.
    order: Vec<u32>,
    /// Rows in all.
    len: usize,
    /// When the new index is the change's rows alone (an index built from scratch) and the
    /// counting sort placed them ([`by_day_then_id`]): where each change row goes. A column is
    /// then written by taking the change's rows in the order they came and putting each in its
    /// place. Its reads run straight through the change, and its writes go to one spot per day,
    /// a few thousand spots that stay in cache. Gathering in merged order would instead read a
    /// row from anywhere in the change each time: at ten million rows a cache miss per row and
    /// column, most of the time spent building the columns.
    places: Option<Vec<u32>>,
}

impl Runs {
    /// From the merged order: an old row's position, or `NEW |` a change row (taken in
    /// `order`'s order).
    fn of(merged: &[u32], order: Vec<u32>) -> Self {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut next_new = 0;
        for &s in merged {
            let s = if s & NEW == 0 {
                s
            } else {
                next_new += 1;
                NEW | (next_new - 1)
            };
            match runs.last_mut() {
                Some((from, len)) if (*from & NEW) == (s & NEW) && *from + *len == s => *len += 1,
                _ => runs.push((s, 1)),
            }
        }
        Self {
            runs,
            order,
            len: merged.len(),
            places: None,
        }
    }

    /// The merged order of `n` old rows, all kept, and the change's rows in `order`; `before(p,
    /// k)` says whether old row `p` comes before change row `k`.
    fn inserting(n: usize, order: Vec<u32>, before: impl Fn(usize, u32) -> bool) -> Self {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut at = 0;
        for (i, &k) in order.iter().enumerate() {
            // The first old row from `at` on that does not come before `k`.
            let (mut lo, mut hi) = (at, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if before(mid, k) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo > at {
                runs.push((at as u32, (lo - at) as u32));
            }
            match runs.last_mut() {
                Some((from, len)) if *from & NEW != 0 => *len += 1,
                _ => runs.push((NEW | i as u32, 1)),
            }
            at = lo;
        }
        if at < n {
            runs.push((at as u32, (n - at) as u32));
        }
        let len = n + order.len();
        Self {
            runs,
            order,
            len,
            places: None,
        }
    }

    /// These runs, with `places` (each change row's position) kept when the change's rows are
    /// the whole of them.
    fn placed(mut self, places: Option<Vec<u32>>) -> Self {
        if self.order.len() == self.len {
            self.places = places.filter(|p| p.len() == self.len);
        }
        self
    }

    /// The old rows kept, in merged order.
    fn old(&self) -> impl Iterator<Item = usize> + '_ {
        self.runs
            .iter()
            .filter(|&&(from, _)| from & NEW == 0)
            .flat_map(|&(from, len)| from as usize..(from + len) as usize)
    }

    /// The first row: an old row's position, or a change row.
    fn first(&self) -> Option<Result<usize, usize>> {
        self.runs.first().map(|&(from, _)| {
            if from & NEW == 0 {
                Ok(from as usize)
            } else {
                Err(self.order[(from & !NEW) as usize] as usize)
            }
        })
    }

    /// One column in merged order, written into `into` (emptied first): an old row's value
    /// from `old`, a new row's from `new`. Generic, so each column's loop is compiled with its
    /// closures inlined.
    fn map<T: Copy + Default>(
        &self,
        mut into: Vec<T>,
        old: impl Fn(usize) -> T,
        new: impl Fn(usize) -> T,
    ) -> Vec<T> {
        if let Some(places) = &self.places {
            return placed(into, places, new);
        }
        emptied(&mut into, self.len);
        for &(from, len) in &self.runs {
            let (at, len) = ((from & !NEW) as usize, len as usize);
            if from & NEW == 0 {
                into.extend((at..at + len).map(&old));
            } else {
                into.extend(self.order[at..at + len].iter().map(|&k| new(k as usize)));
            }
        }
        into
    }

    /// [`Runs::map`] for a column whose old values stay as they are: copied a run at a time.
    fn copy<T: Copy + Default>(
        &self,
        mut into: Vec<T>,
        old: &[T],
        new: impl Fn(usize) -> T,
    ) -> Vec<T> {
        if let Some(places) = &self.places {
            return placed(into, places, new);
        }
        emptied(&mut into, self.len);
        for &(from, len) in &self.runs {
            let (at, len) = ((from & !NEW) as usize, len as usize);
            if from & NEW == 0 {
                into.extend_from_slice(&old[at..at + len]);
            } else {
                into.extend(self.order[at..at + len].iter().map(|&k| new(k as usize)));
            }
        }
        into
    }
}

/// A column of the change's rows alone, each row's value written at its place (see
/// [`Runs::places`]).
fn placed<T: Copy + Default>(mut into: Vec<T>, places: &[u32], new: impl Fn(usize) -> T) -> Vec<T> {
    emptied(&mut into, places.len());
    into.resize(places.len(), T::default());
    for (k, &at) in places.iter().enumerate() {
        into[at as usize] = new(k);
    }
    into
}

/// Whether `codes` maps every code to itself.
fn is_identity(codes: &[u32]) -> bool {
    codes.iter().enumerate().all(|(i, &c)| c as usize == i)
}

/// The dictionary after a change: the old values some kept row still has, and the change's
/// values, in natural order, with their counts. Returns it with each old code's new code and
/// each of the change's codes' new code (`u32::MAX` for an old value no row has any more).
fn merge_dict(old: &Dict, col: &[u32], removed: &[u32], add: &Dict) -> (Dict, Vec<u32>, Vec<u32>) {
    let mut rows = old.rows.clone();
    for &p in removed {
        let c = col[p as usize] as usize;
        rows[c] = rows[c].saturating_sub(1);
    }
    let mut known = vec![u32::MAX; add.values.len()];
    let mut fresh: Vec<usize> = Vec::new();
    for (a, v) in add.values.iter().enumerate() {
        match old.lookup(v) {
            Some(c) => {
                rows[c as usize] += add.rows[a];
                known[a] = c;
            }
            None => fresh.push(a),
        }
    }
    let value = |a: usize| Some(add.values[a].as_str());
    fresh.sort_by(|&x, &y| natural_cmp(value(x), value(y)));

    let mut out = Dict::default();
    let mut old_map = vec![u32::MAX; old.values.len()];
    let mut add_map = vec![u32::MAX; add.values.len()];
    let mut f = 0;
    for (c, v) in old.values.iter().enumerate() {
        if rows[c] == 0 {
            continue;
        }
        while f < fresh.len() && natural_cmp(value(fresh[f]), Some(v)).is_lt() {
            add_map[fresh[f]] = out.push(add.values[fresh[f]].clone(), add.rows[fresh[f]]);
            f += 1;
        }
        old_map[c] = out.push(v.clone(), rows[c]);
    }
    for &a in &fresh[f..] {
        add_map[a] = out.push(add.values[a].clone(), add.rows[a]);
    }
    for (a, &c) in known.iter().enumerate() {
        if c != u32::MAX {
            add_map[a] = old_map[c as usize];
        }
    }
    (out, old_map, add_map)
}

/// The ids a change touches, asked about every old row: a bitmap over their range when that is
/// small (ids are mostly dense), a hash set otherwise.
enum Touched {
    Bits { first: i64, bits: Vec<u64> },
    Set(HashSet<i64, foldhash::fast::FixedState>),
}

impl Touched {
    fn new(ids: impl Iterator<Item = i64> + Clone) -> Self {
        let (lo, hi) = ids.clone().fold((i64::MAX, i64::MIN), |(lo, hi), id| {
            (lo.min(id), hi.max(id))
        });
        let span = hi.checked_sub(lo).and_then(|s| u64::try_from(s).ok());
        match span {
            // At most 16 MiB of bits.
            Some(span) if span < 1 << 27 => {
                let mut bits = vec![0u64; (span / 64 + 1) as usize];
                for id in ids {
                    let at = (id - lo) as u64;
                    bits[(at / 64) as usize] |= 1 << (at % 64);
                }
                Self::Bits { first: lo, bits }
            }
            _ => Self::Set(ids.collect()),
        }
    }

    fn contains(&self, id: i64) -> bool {
        match self {
            Self::Bits { first, bits } => id
                .checked_sub(*first)
                .and_then(|at| u64::try_from(at).ok())
                .and_then(|at| {
                    bits.get((at / 64) as usize)
                        .map(|w| w >> (at % 64) & 1 == 1)
                })
                .unwrap_or(false),
            Self::Set(set) => set.contains(&id),
        }
    }
}

/// The tickets after a change, and where each old rank and each new row's ticket went.
struct Ranked {
    /// `None` past the arena's limit: the ranks are right, but a later change must rebuild.
    tickets: Option<Tickets>,
    old: Vec<u32>,
    new: Vec<u32>,
}

/// Ranks the change's tickets among the old ones still in use (dense ranks, natural order).
fn merge_tickets(
    old: &Tickets,
    ranks: &[u32],
    removed: &[u32],
    delta: &IndexBuilder,
    spare: &mut Spare,
) -> Ranked {
    let mut alive = vec![true; old.len()];
    for &p in removed {
        if let Some(a) = alive.get_mut(ranks[p as usize] as usize) {
            *a = false;
        }
    }
    let ticket = |k: usize| delta.tickets.get(k).unwrap_or("");
    let mut fresh: Vec<usize> = (0..delta.len())
        .filter(|&k| delta.tickets.get(k).is_some())
        .collect();
    // Exports usually come in ticket order, and then one pass proves it. Otherwise keys are
    // computed once per ticket: a million comparisons of raw ids would each redo the folding.
    if !fresh.is_sorted_by(|&a, &b| natural_cmp(Some(ticket(a)), Some(ticket(b))).is_le()) {
        fresh.sort_by_cached_key(|&k| (natural_key(ticket(k)), ticket(k)));
    }
    // Where each new ticket goes among the old ones: a binary search each when they are few, one
    // walk beside the old ones when they are many.
    let below = |r: usize, k: usize| natural_cmp(Some(old.get(r)), Some(ticket(k))).is_lt();
    let mut at: Vec<usize> = Vec::with_capacity(fresh.len());
    let n = old.len();
    if (fresh.len() as f64) * (n.max(2) as f64).log2() < n as f64 {
        for &k in &fresh {
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if below(mid, k) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            at.push(lo);
        }
    } else {
        let mut r = 0;
        for &k in &fresh {
            while r < n && below(r, k) {
                r += 1;
            }
            at.push(r);
        }
    }

    let mut text = pick(&mut spare.text, old.text.len());
    text.clear();
    if text.capacity() < old.text.len() {
        text.reserve_exact(with_room(old.text.len()));
    }
    let mut ends = pick(&mut spare.u32s, n + fresh.len());
    emptied(&mut ends, n + fresh.len());
    let mut out = Some(Tickets { text, ends });
    let mut next: u32 = 0;
    let filled = |mut v: Vec<u32>, len: usize| {
        emptied(&mut v, len);
        v.resize(len, LAST);
        v
    };
    let mut old_rank = filled(pick(&mut spare.u32s, n), n);
    let mut new_rank = filled(pick(&mut spare.u32s, delta.len()), delta.len());
    let mut f = 0;
    let mut r = 0;
    while r < n || f < fresh.len() {
        // The new tickets that go before old rank `r`, then the run of old tickets still in use
        // up to the next new one, copied in one piece.
        while f < fresh.len() && at[f] <= r {
            new_rank[fresh[f]] = next;
            next += 1;
            push(&mut out, ticket(fresh[f]));
            f += 1;
        }
        let stop = at.get(f).copied().unwrap_or(n).min(n);
        while r < stop {
            if !alive[r] {
                r += 1;
                continue;
            }
            let start = r;
            while r < stop && alive[r] {
                old_rank[r] = next;
                next += 1;
                r += 1;
            }
            copy_run(&mut out, old, start..r);
        }
    }
    Ranked {
        tickets: out,
        old: old_rank,
        new: new_rank,
    }
}

/// Appends one ticket; past the arena's limit there is no arena any more (see [`Ranked`]).
fn push(out: &mut Option<Tickets>, s: &str) {
    if let Some(t) = out
        && t.push(s).is_none()
    {
        *out = None;
    }
}

/// Appends old ranks `run` (consecutive) in one copy of their text and their ends moved.
fn copy_run(out: &mut Option<Tickets>, old: &Tickets, run: std::ops::Range<usize>) {
    let Some(t) = out else {
        return;
    };
    let from = run
        .start
        .checked_sub(1)
        .and_then(|r| old.ends.get(r))
        .map_or(0, |&e| e as usize);
    let to = run
        .end
        .checked_sub(1)
        .and_then(|r| old.ends.get(r))
        .map_or(from, |&e| e as usize);
    let base = t.text.len();
    let Some(text) = old.text.get(from..to) else {
        *out = None;
        return;
    };
    if u32::try_from(base + text.len()).is_err() {
        *out = None;
        return;
    }
    t.text.push_str(text);
    t.ends.extend(
        old.ends[run]
            .iter()
            .map(|&e| (e as usize - from + base) as u32),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::Severity;
    use crate::store::IndexRow;

    /// A stored escalation as the model keeps it: the import that last wrote it, and its fields
    /// as pool indexes.
    #[derive(Debug, Clone)]
    struct Stored {
        import: u32,
        fields: Fields,
    }

    /// (client, product, region, severity, opened, closed after, ticket, status)
    type Fields = (
        usize,
        usize,
        usize,
        usize,
        i32,
        Option<i32>,
        Option<usize>,
        Option<usize>,
    );

    const CLIENTS: &[&str] = &["Acme", "acme", "Zeta 10", "Zeta 9", "Émile", "Globex"];
    const PRODUCTS: &[&str] = &["API", "Billing", "api"];
    const REGIONS: &[&str] = &["Europe", "Asia"];
    const STATUSES: &[&str] = &["Open", "Closed", "open"];

    #[derive(Debug, Clone)]
    enum Op {
        Import(Vec<Fields>),
        /// Deletes the n-th import still stored (modulo their number).
        Delete(usize),
    }

    fn fields() -> impl Strategy<Value = Fields> {
        (
            0..CLIENTS.len(),
            0..PRODUCTS.len(),
            0..REGIONS.len(),
            0..4usize,
            // Four years, so a change can move the first day (and every period base) either way.
            0..1_460i32,
            prop::option::of(-5..400i32),
            prop::option::weighted(0.8, 0..60usize),
            prop::option::of(0..STATUSES.len()),
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => prop::collection::vec(fields(), 0..25).prop_map(Op::Import),
            1 => any::<usize>().prop_map(Op::Delete),
        ]
    }

    fn ticket(t: usize) -> String {
        format!("T-{t}")
    }

    fn row(id: i64, f: &Fields, ticket: &str) -> IndexRow<'static> {
        let day = |offset: i32| {
            NaiveDate::from_ymd_opt(2022, 1, 1)
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(offset.into())))
                .expect("day")
        };
        IndexRow {
            id,
            client: CLIENTS[f.0],
            product: PRODUCTS[f.1],
            region: REGIONS[f.2],
            severity: Severity::ALL[f.3],
            opened: day(f.4),
            closed: f.5.map(|after| day(f.4 + after)),
            ticket: f.6.map(|_| &*Box::leak(ticket.to_owned().into_boxed_str())),
            status: f.7.map(|s| STATUSES[s]),
        }
    }

    /// The store as the index sees it: escalations by id, last id wins on a ticket, a delete
    /// takes an import's current rows and never restores older versions; ids are taken from the
    /// largest one plus one, so a deleted largest id comes back (as SQLite's do).
    #[derive(Default)]
    struct Model {
        rows: BTreeMap<i64, Stored>,
        imports: Vec<u32>,
        next_import: u32,
    }

    impl Model {
        /// Applies `op`; returns the change as the store reports it.
        fn run(&mut self, op: &Op) -> (Vec<i64>, Vec<i64>) {
            match op {
                Op::Import(rows) => {
                    self.next_import += 1;
                    let import = self.next_import;
                    self.imports.push(import);
                    let mut written = Vec::new();
                    for f in rows {
                        let same = f.6.and_then(|t| {
                            self.rows
                                .iter()
                                .find(|(_, s)| s.fields.6 == Some(t))
                                .map(|(id, _)| *id)
                        });
                        let id = same.unwrap_or_else(|| {
                            self.rows.last_key_value().map_or(1, |(id, _)| id + 1)
                        });
                        self.rows.insert(id, Stored { import, fields: *f });
                        written.push(id);
                    }
                    // The store reports each escalation once, as it is now.
                    written.sort_unstable();
                    written.dedup();
                    (written, Vec::new())
                }
                Op::Delete(n) => {
                    if self.imports.is_empty() {
                        return (Vec::new(), Vec::new());
                    }
                    let import = self.imports.remove(n % self.imports.len());
                    let gone: Vec<i64> = self
                        .rows
                        .iter()
                        .filter(|(_, s)| s.import == import)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in &gone {
                        self.rows.remove(id);
                    }
                    (Vec::new(), gone)
                }
            }
        }

        fn builder(&self, ids: Option<&[i64]>) -> IndexBuilder {
            let mut b = IndexBuilder::default();
            let mut push = |id: i64, s: &Stored| {
                b.push(row(id, &s.fields, &ticket(s.fields.6.unwrap_or(0))));
            };
            match ids {
                None => self.rows.iter().rev().for_each(|(id, s)| push(*id, s)),
                Some(ids) => {
                    for id in ids {
                        if let Some(s) = self.rows.get(id) {
                            push(*id, s);
                        }
                    }
                }
            }
            b
        }
    }

    #[test]
    fn rows_are_ordered_by_day_then_id_whichever_sort_is_taken() {
        // In id order, days few: the counting sort.
        let day = [5, 3, 5, 3, 4, 5];
        let ids = [1, 2, 7, 9, 10, 11];
        assert_eq!(by_day_then_id(&day, &ids).0, [1, 3, 4, 0, 2, 5]);
        assert_eq!(by_day_then_id(&day, &ids).1, Some(vec![3, 0, 4, 1, 2, 5]));
        // Not in id order: the comparison sort.
        let ids = [11, 2, 7, 9, 10, 1];
        assert_eq!(by_day_then_id(&day, &ids), (vec![1, 3, 4, 5, 2, 0], None));
        // Days spread wider than the rows are many, to the ends of the type: the comparison sort.
        let day = [i32::MAX, i32::MIN, 0];
        assert_eq!(by_day_then_id(&day, &[1, 2, 3]), (vec![1, 2, 0], None));
        assert_eq!(by_day_then_id(&[], &[]), (Vec::<u32>::new(), None));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn the_counting_sort_orders_as_the_comparison_sort_does(
            rows in proptest::collection::vec((-40i32..40, 0i64..6), 0..300),
            sorted_ids in any::<bool>(),
        ) {
            let day: Vec<i32> = rows.iter().map(|r| r.0).collect();
            // Unique ids, ascending (the store's order) or in the order the rows came.
            let mut ids: Vec<i64> = Vec::new();
            let mut next = 0;
            for r in &rows {
                next += 1 + r.1;
                ids.push(next);
            }
            if !sorted_ids {
                ids.reverse();
            }
            let mut expected: Vec<u32> = (0..day.len() as u32).collect();
            expected.sort_by_key(|&k| (day[k as usize], ids[k as usize]));
            let (order, places) = by_day_then_id(&day, &ids);
            prop_assert_eq!(&order, &expected);
            // Where the counting sort placed each row is the order turned inside out.
            if let Some(places) = places {
                for (at, &k) in order.iter().enumerate() {
                    prop_assert_eq!(places[k as usize] as usize, at);
                }
            }
        }


        /// A store read in parts (ranges of ids, each in id order, as a split scan reads it) and
        /// the parts' builders appended give the index one builder of every row gives (in
        /// reverse id order there: the comparison sort, where the parts take the counting sort
        /// and its placed columns).
        #[test]
        fn parts_appended_build_the_index_one_scan_builds(
            ops in prop::collection::vec(op(), 1..8),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let mut model = Model::default();
            for op in &ops {
                model.run(op);
            }
            let ids: Vec<i64> = model.rows.keys().copied().collect();
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(ids.len() + 1)).collect();
            bounds.extend([0, ids.len()]);
            bounds.sort_unstable();
            let mut parts = IndexBuilder::default();
            for w in bounds.windows(2) {
                parts.append(model.builder(Some(&ids[w[0]..w[1]])));
            }
            prop_assert_eq!(parts.finish(), model.builder(None).finish());
        }

        /// Following every change gives the index a rebuild from the final rows gives: the same
        /// columns, dictionaries, ranks and bases, so every answer is the same. Half the cases
        /// build each index in the memory of the one before the last (as a server does), whose
        /// stale values must not show through.
        #[test]
        fn following_changes_equals_rebuilding(
            ops in prop::collection::vec(op(), 1..12),
            recycle in any::<bool>(),
        ) {
            let mut model = Model::default();
            let mut index = Index::default();
            let mut spare = Spare::default();
            for op in &ops {
                let (written, retired) = model.run(op);
                let delta = model.builder(Some(&written));
                let next = index.apply_into(delta, &retired, &mut spare).expect("applies");
                let old = std::mem::replace(&mut index, next);
                if recycle {
                    spare.take(old);
                }
                let rebuilt = model.builder(None).finish();
                prop_assert_eq!(&index, &rebuilt);
            }
        }
    }

    #[test]
    fn a_new_first_day_moves_every_period_code() {
        let mut model = Model::default();
        let late = (0, 0, 0, 0, 800, Some(40), Some(1), None);
        let early = (1, 0, 0, 3, 10, None, Some(2), Some(0));
        let (w, _) = model.run(&Op::Import(vec![late]));
        let first = Index::default()
            .apply(model.builder(Some(&w)), &[])
            .expect("applies");
        let (w, _) = model.run(&Op::Import(vec![early]));
        let second = first.apply(model.builder(Some(&w)), &[]).expect("applies");
        assert_ne!(first.month_base, second.month_base);
        assert_eq!(second, model.builder(None).finish());
        // And back: deleting the early row moves the bases forward again.
        let (_, gone) = model.run(&Op::Delete(1));
        let third = second
            .apply(IndexBuilder::default(), &gone)
            .expect("applies");
        assert_eq!(third, first);
    }
}
