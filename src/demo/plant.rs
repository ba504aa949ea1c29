//! Planted worlds: `demo-data --plant KEY.json` writes a world whose escalations follow a
//! stated model, with events planted in it, and a key naming each event, so the insight
//! engine's recall and precision can be measured (issue 13).
//!
//! The world: a few hundred to a few thousand client companies (three per square root of the
//! rows asked for) with long-tailed rates (a Zipf weighting), each using some of the products
//! with its own mix and sitting mostly (85 %) in one home region; 24 full calendar months, the
//! last being the last full month on or before `--end`; every client × product × month count a
//! negative-binomial draw (a gamma-mixed Poisson, size 12) around the cell's rate, times a
//! client-month factor (gamma, shape 50: a whole account has good and bad months) and a mild
//! seasonality (±10 % over the year). About `--rows` escalations in all.
//!
//! The events, each on a client of its own, in turn:
//! - `spike` (a client × product cell): the current month gets two to four times the cell's rate
//!   more, at least 6 more;
//! - `rising` (a client): its last three months at 1.8, 2.4 and 3 times its rate;
//! - `emerging` (a client × product cell the client never used): a Poisson(9) + 2 count now;
//! - `cooling` (a cell with a rate of at least 10): the last two months at an eighth of it.
//!
//! An event is *fair* to ask for when the draw made it visible, by the rules: a spike at
//! least 3 times and at least 6 above the cell's mean over the 12 months before; an emerging cell
//! at least 7 after 12 empty months; a rising client whose last three months average at least
//! twice its level over the 12 months before them and total at least 10 more than three times it;
//! a cooling cell whose current month is at most a quarter of a level of at least 8 (over the 12
//! months before the fall). The key records, per event, whether it is fair, its level and its
//! slice's 13 months of counts.
//!
//! The samplers are the textbook ones (Marsaglia-Tsang gamma, Knuth's Poisson in chunks of at
//! most 30, so its cost is that of writing the rows anyway) over the seeded `fastrand`, so the
//! same seed gives the same world without another random-number crate.

use std::io::Write;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

use super::{PRIORITIES, PRODUCTS, REGIONS, client_names, pick, write_ticket, writer};

/// What to generate.
#[derive(Debug, Clone)]
pub struct PlantSpec {
    /// About this many escalations.
    pub rows: u64,
    pub seed: u64,
    /// The world ends with the last full month on or before this day.
    pub end: NaiveDate,
    /// Events to plant (0: a quiet world).
    pub events: usize,
}

/// Months in a planted world.
const MONTHS: usize = 24;
/// The current month's index.
const NOW: usize = MONTHS - 1;
/// Negative-binomial size of a cell's monthly count (variance `μ + μ²/12`).
const CELL_SIZE: f64 = 12.0;
/// Gamma shape of a client's month-to-month factor.
const CLIENT_SHAPE: f64 = 50.0;
/// Share of a client's escalations in its home region.
const HOME_SHARE: f64 = 0.85;

/// The slice an event was planted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSlice {
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// One planted event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlantedEvent {
    /// `spike`, `emerging`, `rising` or `cooling`.
    pub kind: &'static str,
    pub slice: EventSlice,
    /// Whether the draw made it visible by the rules above.
    pub fair: bool,
    /// The slice's level the rule compares with (a mean per month).
    pub level: f64,
    /// The slice's counts in the current month and the 12 before, oldest first.
    pub history: Vec<u32>,
}

/// What `--plant KEY.json` writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlantKey {
    pub seed: u64,
    /// Escalations written.
    pub rows: u64,
    /// The last day of the current month.
    pub as_of: NaiveDate,
    pub period: &'static str,
    pub events: Vec<PlantedEvent>,
}

/// A client of the world: its rate per month, its home region and its product mix.
struct Client {
    name: String,
    rate: f64,
    home: usize,
    /// (product index, share of the client's rate)
    mix: Vec<(usize, f64)>,
}

/// Per client, per product (index into `PRODUCTS`), per month: the count drawn.
type Draws = Vec<Vec<[u32; MONTHS]>>;

/// Writes a planted world as a CSV export and returns its key.
pub fn generate_planted(spec: &PlantSpec, out: impl Write) -> Result<PlantKey, csv::Error> {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let months = month_starts(spec.end);
    let clients = clients(&mut rng, spec.rows);
    let per_client_month: Vec<[f64; MONTHS]> = clients
        .iter()
        .map(|_| std::array::from_fn(|_| gamma(&mut rng, CLIENT_SHAPE) / CLIENT_SHAPE))
        .collect();

    // Rate multipliers per client, product and month, and counts added on top.
    let np = PRODUCTS.len();
    let mut factor = vec![vec![[1.0f64; MONTHS]; np]; clients.len()];
    let mut extra = vec![vec![[0u32; MONTHS]; np]; clients.len()];
    let plan = plan_events(&mut rng, &clients, spec.events);
    for e in &plan {
        match *e {
            Plan::Spike(c, p) => {
                let rate = cell_rate(&clients[c], p);
                let more = (rate * (2.0 + 2.0 * rng.f64())).max(6.0).ceil() as u32;
                extra[c][p][NOW] += more;
            }
            Plan::Rising(c) => {
                for f in &mut factor[c] {
                    f[NOW - 2] *= 1.8;
                    f[NOW - 1] *= 2.4;
                    f[NOW] *= 3.0;
                }
            }
            Plan::Emerging(c, p) => extra[c][p][NOW] += poisson(&mut rng, 9.0) + 2,
            Plan::Cooling(c, p) => {
                factor[c][p][NOW - 1] /= 8.0;
                factor[c][p][NOW] /= 8.0;
            }
        }
    }

    let mut draws: Draws = vec![vec![[0u32; MONTHS]; np]; clients.len()];
    for (c, client) in clients.iter().enumerate() {
        for &(p, _) in &client.mix {
            let rate = cell_rate(client, p);
            for (m, start) in months.iter().enumerate() {
                let mean = rate * season(*start) * per_client_month[c][m] * factor[c][p][m];
                draws[c][p][m] = negative_binomial(&mut rng, mean, CELL_SIZE);
            }
        }
        for p in 0..np {
            for m in 0..MONTHS {
                draws[c][p][m] += extra[c][p][m];
            }
        }
    }

    let mut w = writer(out)?;
    let as_of = last_day(months[NOW]);
    let mut id = 100_000u64;
    for (m, start) in months.iter().enumerate() {
        let days = (last_day(*start) - *start).num_days() as u64 + 1;
        for (c, client) in clients.iter().enumerate() {
            for (p, cell) in draws[c].iter().enumerate() {
                for _ in 0..cell[m] {
                    let region = if rng.f64() < HOME_SHARE {
                        REGIONS[client.home].0
                    } else {
                        pick(&mut rng, REGIONS)
                    };
                    let opened = *start + Days::new(rng.u64(0..days));
                    let priority = pick(&mut rng, PRIORITIES);
                    write_ticket(
                        &mut w,
                        &mut rng,
                        id,
                        &client.name,
                        PRODUCTS[p].0,
                        region,
                        priority,
                        opened,
                        as_of,
                    )?;
                    id += 1;
                }
            }
        }
    }
    w.flush()?;

    let events = plan.iter().map(|e| judge(e, &clients, &draws)).collect();
    Ok(PlantKey {
        seed: spec.seed,
        rows: id - 100_000,
        as_of,
        period: "month",
        events,
    })
}

/// The first day of each of the 24 months, the last being the last full month on or before
/// `end`.
fn month_starts(end: NaiveDate) -> Vec<NaiveDate> {
    let first_of = end.with_day(1).unwrap_or(end);
    let last = if last_day(first_of) == end {
        first_of
    } else {
        first_of
            .checked_sub_months(Months::new(1))
            .unwrap_or(first_of)
    };
    (0..MONTHS)
        .map(|m| {
            last.checked_sub_months(Months::new((NOW - m) as u32))
                .unwrap_or(last)
        })
        .collect()
}

fn last_day(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(Months::new(1))
        .and_then(|n| n.pred_opt())
        .unwrap_or(first)
}

/// ±10 % over the year, highest in spring.
fn season(month: NaiveDate) -> f64 {
    1.0 + 0.1 * (std::f64::consts::TAU * f64::from(month.month0()) / 12.0).sin()
}

fn clients(rng: &mut fastrand::Rng, rows: u64) -> Vec<Client> {
    let n = ((rows as f64).sqrt() * 3.0).clamp(300.0, 5_000.0) as usize;
    let names = client_names(n);
    let weights: Vec<f64> = (0..n).map(|k| 1.0 / (k + 1) as f64).collect();
    let total: f64 = weights.iter().sum();
    let per_month = rows as f64 / MONTHS as f64;
    names
        .into_iter()
        .zip(weights)
        .map(|(name, w)| {
            let home = {
                let r = pick(rng, REGIONS);
                REGIONS.iter().position(|(n, _)| *n == r).unwrap_or(0)
            };
            let mut mix: Vec<(usize, f64)> = Vec::new();
            for (p, (_, pw)) in PRODUCTS.iter().enumerate() {
                if rng.f64() < 0.6 {
                    mix.push((p, f64::from(*pw) * (0.5 + rng.f64())));
                }
            }
            while mix.len() < 2 {
                let p = rng.usize(0..PRODUCTS.len());
                if mix.iter().all(|(q, _)| *q != p) {
                    mix.push((p, f64::from(PRODUCTS[p].1) * (0.5 + rng.f64())));
                }
            }
            let sum: f64 = mix.iter().map(|(_, s)| s).sum();
            for (_, s) in &mut mix {
                *s /= sum;
            }
            mix.sort_by_key(|(p, _)| *p);
            Client {
                name,
                rate: per_month * w / total,
                home,
                mix,
            }
        })
        .collect()
}

fn cell_rate(client: &Client, product: usize) -> f64 {
    client
        .mix
        .iter()
        .find(|(p, _)| *p == product)
        .map_or(0.0, |(_, s)| client.rate * s)
}

/// An event to plant: (client, product) indices.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Spike(usize, usize),
    Rising(usize),
    Emerging(usize, usize),
    Cooling(usize, usize),
}

/// Chooses `events` events, kinds in turn, each on a client no other event touches.
fn plan_events(rng: &mut fastrand::Rng, clients: &[Client], events: usize) -> Vec<Plan> {
    let mut used = vec![false; clients.len()];
    let mut plan = Vec::new();
    for k in 0..events {
        // Up to 200 tries for a client fit for this kind.
        for _ in 0..200 {
            let c = rng.usize(0..clients.len());
            if used[c] {
                continue;
            }
            let client = &clients[c];
            let unused: Vec<usize> = (0..PRODUCTS.len())
                .filter(|p| client.mix.iter().all(|(q, _)| q != p))
                .collect();
            let mut in_mix = |lo: f64, hi: f64| -> Option<usize> {
                let fit: Vec<usize> = client
                    .mix
                    .iter()
                    .filter(|(p, _)| (lo..=hi).contains(&cell_rate(client, *p)))
                    .map(|(p, _)| *p)
                    .collect();
                (!fit.is_empty()).then(|| fit[rng.usize(0..fit.len())])
            };
            let chosen = match k % 4 {
                0 => in_mix(0.8, 12.0).map(|p| Plan::Spike(c, p)),
                1 => (4.0..=80.0)
                    .contains(&client.rate)
                    .then_some(Plan::Rising(c)),
                2 => (client.rate >= 3.0 && !unused.is_empty())
                    .then(|| Plan::Emerging(c, unused[rng.usize(0..unused.len())])),
                _ => in_mix(10.0, f64::INFINITY).map(|p| Plan::Cooling(c, p)),
            };
            if let Some(p) = chosen {
                used[c] = true;
                plan.push(p);
                break;
            }
        }
    }
    plan
}

fn mean(counts: &[u32]) -> f64 {
    counts.iter().map(|&n| f64::from(n)).sum::<f64>() / counts.len().max(1) as f64
}

/// The event as drawn: its slice, its level, whether it is fair.
fn judge(plan: &Plan, clients: &[Client], draws: &Draws) -> PlantedEvent {
    let cell = |c: usize, p: usize| -> [u32; MONTHS] { draws[c][p] };
    let client_total = |c: usize| -> [u32; MONTHS] {
        std::array::from_fn(|m| draws[c].iter().map(|cell| cell[m]).sum())
    };
    let slice = |c: usize, p: Option<usize>| EventSlice {
        client: clients[c].name.clone(),
        product: p.map(|p| PRODUCTS[p].0.to_owned()),
    };
    let (kind, slice, counts, level, fair) = match *plan {
        Plan::Spike(c, p) => {
            let n = cell(c, p);
            let level = mean(&n[NOW - 12..NOW]);
            let now = f64::from(n[NOW]);
            let fair = now >= 3.0 * level && now >= level + 6.0;
            ("spike", slice(c, Some(p)), n, level, fair)
        }
        Plan::Emerging(c, p) => {
            let n = cell(c, p);
            let fair = n[NOW - 12..NOW].iter().all(|&k| k == 0) && n[NOW] >= 7;
            ("emerging", slice(c, Some(p)), n, 0.0, fair)
        }
        Plan::Rising(c) => {
            let n = client_total(c);
            let level = mean(&n[NOW - 14..NOW - 2]);
            let last: f64 = n[NOW - 2..].iter().map(|&k| f64::from(k)).sum();
            let fair = last / 3.0 >= 2.0 * level && last >= 3.0 * level + 10.0;
            ("rising", slice(c, None), n, level, fair)
        }
        Plan::Cooling(c, p) => {
            let n = cell(c, p);
            let level = mean(&n[NOW - 13..NOW - 1]);
            let fair = level >= 8.0 && f64::from(n[NOW]) <= level / 4.0;
            ("cooling", slice(c, Some(p)), n, level, fair)
        }
    };
    PlantedEvent {
        kind,
        slice,
        fair,
        level: (level * 100.0).round() / 100.0,
        history: counts[NOW - 12..].to_vec(),
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u = 1.0 - rng.f64();
    let v = rng.f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A gamma draw of the given shape and scale 1 (Marsaglia and Tsang, 2000).
fn gamma(rng: &mut fastrand::Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.f64();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.f64();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Poisson draw: Knuth's method over chunks of a mean of at most 30.
fn poisson(rng: &mut fastrand::Rng, mean: f64) -> u32 {
    let mut left = mean.max(0.0);
    let mut n = 0;
    while left > 0.0 {
        let chunk = left.min(30.0);
        left -= chunk;
        let limit = (-chunk).exp();
        let mut p = rng.f64();
        while p > limit {
            n += 1;
            p *= rng.f64();
        }
    }
    n
}

/// A negative-binomial draw with this mean and size (a gamma-mixed Poisson).
fn negative_binomial(rng: &mut fastrand::Rng, mean: f64, size: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let rate = gamma(rng, size) * mean / size;
    poisson(rng, rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(events: usize, seed: u64) -> (PlantKey, String) {
        let mut out = Vec::new();
        let key = generate_planted(
            &PlantSpec {
                rows: 20_000,
                seed,
                end: NaiveDate::from_ymd_opt(2026, 11, 15).expect("valid"),
                events,
            },
            &mut out,
        )
        .expect("writes");
        (key, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn a_planted_world_is_deterministic_and_its_key_matches_its_rows() {
        let (key, csv) = world(8, 7);
        assert_eq!(world(8, 7), (key.clone(), csv.clone()));
        assert_ne!(world(8, 8).1, csv, "another seed, another world");
        assert_eq!(
            key.as_of,
            NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid"),
            "the last full month"
        );
        assert_eq!(csv.lines().count() as u64, key.rows + 1);
        assert!((15_000..25_000).contains(&key.rows), "{}", key.rows);
        assert_eq!(key.events.len(), 8);
        let kinds: Vec<&str> = key.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "spike", "rising", "emerging", "cooling", "spike", "rising", "emerging", "cooling"
            ]
        );
        // Each event's current count, read back from the rows.
        for e in &key.events {
            let now = csv
                .lines()
                .skip(1)
                .filter(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    f[1] == e.slice.client
                        && e.slice.product.as_deref().is_none_or(|p| f[2] == p)
                        && f[5].starts_with("2026-10")
                })
                .count() as u32;
            assert_eq!(now, e.history[12], "{e:?}");
        }
        let mut clients: Vec<&str> = key.events.iter().map(|e| e.slice.client.as_str()).collect();
        clients.sort_unstable();
        clients.dedup();
        assert_eq!(clients.len(), 8, "one client per event");
    }

    #[test]
    fn a_quiet_world_has_no_events_and_the_samplers_have_their_means() {
        let (key, _) = world(0, 3);
        assert!(key.events.is_empty());
        let mut rng = fastrand::Rng::with_seed(1);
        let n = 20_000;
        let nb: Vec<f64> = (0..n)
            .map(|_| f64::from(negative_binomial(&mut rng, 10.0, 4.0)))
            .collect();
        let m = nb.iter().sum::<f64>() / n as f64;
        let var = nb.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!((m - 10.0).abs() < 0.2, "mean {m}");
        assert!((var - 35.0).abs() < 3.0, "variance {var} (10 + 100/4)");
        let big = (0..2_000).map(|_| poisson(&mut rng, 100.0)).sum::<u32>() as f64 / 2_000.0;
        assert!((big - 100.0).abs() < 1.0, "{big}");
    }
}
