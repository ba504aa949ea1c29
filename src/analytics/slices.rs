//! Every slice's counts over the current period and the 12 before it: the input the insight
//! detectors (issue 13) judge each slice by. A slice is a client, a product, a region, a client ×
//! product pair or a product × region pair.
//!
//! The current period is the calendar month (or ISO week) containing `as_of`, up to and including
//! `as_of`; `as_of` defaults to the last opened date among the escalations the filter selects. The
//! filter's client, product, region and severity lists select escalations; its dates are not used
//! (`as_of` says when). One pass over the 13 periods' rows fills every slice at once.

use std::collections::HashMap;

use chrono::{Datelike, Days, NaiveDate};

use super::Filter;
use super::index::{Compiled, Index};
use crate::domain::{Dimension, Month, Period};

/// Periods in a series: the 12 before the current one, and the current one last.
pub const PERIODS: usize = 13;

/// Counts per period, oldest first, the current (possibly partial) period last.
pub type Counts = [u32; PERIODS];

/// Which escalations a slice holds: the values it fixes (`None`: any, and absent from JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Slice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The series of every slice with at least one escalation over the 13 periods.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceSeries {
    pub as_of: NaiveDate,
    pub period: Period,
    /// First and last day of each period; the current one ends at `as_of`.
    pub periods: Vec<(NaiveDate, NaiveDate)>,
    pub slices: Vec<(Slice, Counts)>,
}

/// Pairs of codes held densely up to this many; a larger cross product is a map.
const DENSE_PAIRS: usize = 1 << 18;

/// Counts per (code, code), dense when the cross product is small.
enum Pairs {
    Dense { cells: Vec<Counts>, width: usize },
    Sparse(HashMap<(u32, u32), Counts>),
}

impl Pairs {
    fn new(a: usize, b: usize) -> Self {
        match a.checked_mul(b) {
            Some(n) if n <= DENSE_PAIRS => Self::Dense {
                cells: vec![[0; PERIODS]; n],
                width: b,
            },
            _ => Self::Sparse(HashMap::new()),
        }
    }

    #[inline(always)]
    fn add(&mut self, a: u32, b: u32, p: usize, keep: u32) {
        match self {
            Self::Dense { cells, width } => cells[a as usize * *width + b as usize][p] += keep,
            Self::Sparse(m) => {
                if keep == 1 {
                    m.entry((a, b)).or_insert([0; PERIODS])[p] += 1;
                }
            }
        }
    }

    /// The non-empty pairs, each with its counts.
    fn into_present(self) -> Vec<((u32, u32), Counts)> {
        let mut out: Vec<((u32, u32), Counts)> = match self {
            Self::Dense { cells, width } => cells
                .into_iter()
                .enumerate()
                .filter(|(_, c)| c.iter().any(|&n| n > 0))
                .map(|(i, c)| (((i / width) as u32, (i % width) as u32), c))
                .collect(),
            Self::Sparse(m) => m.into_iter().collect(),
        };
        out.sort_unstable_by_key(|(k, _)| *k);
        out
    }
}

/// The first day of the period containing `day`.
fn period_start(period: Period, day: NaiveDate) -> NaiveDate {
    match period {
        Period::Month => day.with_day(1).unwrap_or(day),
        Period::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
    }
}

/// The first day of the period `back` periods before the one starting `start`.
fn periods_back(period: Period, start: NaiveDate, back: u32) -> NaiveDate {
    match period {
        Period::Month => start
            .checked_sub_months(chrono::Months::new(back))
            .unwrap_or(start),
        Period::Week => start - Days::new(7 * u64::from(back)),
    }
}

impl Index {
    /// Every slice's counts over the current period (containing `as_of`) and the 12 before it.
    /// `None` when the filter selects nothing (so there is no default `as_of`).
    pub fn slice_series(
        &self,
        filter: &Filter,
        period: Period,
        as_of: Option<NaiveDate>,
    ) -> Option<SliceSeries> {
        let selected = self.compile(&filter.without_dates());
        let as_of = match as_of {
            Some(d) => d,
            None => self.last_selected_day(&selected)?,
        };
        let current = period_start(period, as_of);
        let first = periods_back(period, current, PERIODS as u32 - 1);
        let periods: Vec<(NaiveDate, NaiveDate)> = (0..PERIODS as u32)
            .map(|k| {
                let from = periods_back(period, current, PERIODS as u32 - 1 - k);
                let next = match period {
                    Period::Month => from.checked_add_months(chrono::Months::new(1)),
                    Period::Week => from.checked_add_days(Days::new(7)),
                };
                let to = next.and_then(|n| n.pred_opt()).unwrap_or(from).min(as_of);
                (from, to)
            })
            .collect();
        let f = self.compile(&Filter {
            from: Some(first),
            to: Some(as_of),
            ..filter.without_dates()
        });
        let slices = self.count_slices(&f, period, first);
        Some(SliceSeries {
            as_of,
            period,
            periods,
            slices,
        })
    }

    /// The last opened day among the escalations `f` keeps.
    pub(super) fn last_selected_day(&self, f: &Compiled) -> Option<NaiveDate> {
        let i = f.range.clone().rev().find(|&i| f.keeps(self, i))?;
        NaiveDate::from_num_days_from_ce_opt(self.day[i])
    }

    /// The counts of the escalations `filter` selects over `series`' periods (its dates are not
    /// used), the current period last: one pass over those periods' rows.
    pub fn period_counts(&self, filter: &Filter, series: &SliceSeries) -> Counts {
        let mut out = [0; PERIODS];
        let (Some(&(first, _)), Some(&(_, last))) = (series.periods.first(), series.periods.last())
        else {
            return out;
        };
        let f = self.compile(&Filter {
            from: Some(first),
            to: Some(last),
            ..filter.without_dates()
        });
        for i in f.range.clone() {
            if !f.keeps(self, i) {
                continue;
            }
            let Some(day) = NaiveDate::from_num_days_from_ce_opt(self.day[i]) else {
                continue;
            };
            let p = series.periods.partition_point(|&(from, _)| from <= day);
            if let Some(n) = p.checked_sub(1).and_then(|p| out.get_mut(p)) {
                *n += 1;
            }
        }
        out
    }

    /// One pass over `f`'s rows (all within the 13 periods from `first`).
    fn count_slices(&self, f: &Compiled, period: Period, first: NaiveDate) -> Vec<(Slice, Counts)> {
        let (nc, np, nr) = (
            self.cardinality(Dimension::Client),
            self.cardinality(Dimension::Product),
            self.cardinality(Dimension::Region),
        );
        let mut clients = vec![[0u32; PERIODS]; nc];
        let mut products = vec![[0u32; PERIODS]; np];
        let mut regions = vec![[0u32; PERIODS]; nr];
        let mut client_product = Pairs::new(nc, np);
        let mut product_region = Pairs::new(np, nr);
        // A row's period: its month (or week) code against the first period's.
        let (codes, base) = match period {
            Period::Month => (&self.month, Month::of(first).index() - self.month_base),
            Period::Week => (
                &self.week,
                (first.num_days_from_ce() - 1).div_euclid(7) - self.week_base,
            ),
        };
        let trivial = f.is_trivial();
        for i in f.range.clone() {
            let keep = u32::from(trivial || f.keeps(self, i));
            let Ok(p) = usize::try_from(i64::from(codes[i]) - i64::from(base)) else {
                continue;
            };
            let p = p.min(PERIODS - 1);
            let (c, pr, r) = (self.client[i], self.product[i], self.region[i]);
            clients[c as usize][p] += keep;
            products[pr as usize][p] += keep;
            regions[r as usize][p] += keep;
            client_product.add(c, pr, p, keep);
            product_region.add(pr, r, p, keep);
        }
        let name = |d: Dimension, code: u32| Some(self.text_label(d, code).to_owned());
        let mut out = Vec::new();
        let present = |v: Vec<Counts>| {
            v.into_iter()
                .enumerate()
                .filter(|(_, c)| c.iter().any(|&n| n > 0))
                .map(|(i, c)| (i as u32, c))
                .collect::<Vec<_>>()
        };
        for (code, counts) in present(clients) {
            out.push((
                Slice {
                    client: name(Dimension::Client, code),
                    product: None,
                    region: None,
                },
                counts,
            ));
        }
        for (code, counts) in present(products) {
            out.push((
                Slice {
                    client: None,
                    product: name(Dimension::Product, code),
                    region: None,
                },
                counts,
            ));
        }
        for (code, counts) in present(regions) {
            out.push((
                Slice {
                    client: None,
                    product: None,
                    region: name(Dimension::Region, code),
                },
                counts,
            ));
        }
        for ((c, pr), counts) in client_product.into_present() {
            out.push((
                Slice {
                    client: name(Dimension::Client, c),
                    product: name(Dimension::Product, pr),
                    region: None,
                },
                counts,
            ));
        }
        for ((pr, r), counts) in product_region.into_present() {
            out.push((
                Slice {
                    client: None,
                    product: name(Dimension::Product, pr),
                    region: name(Dimension::Region, r),
                },
                counts,
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use crate::store::IndexRow;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
    }

    /// (client, product, region, opened)
    fn index(rows: &[(&str, &str, &str, &str)]) -> Index {
        Index::from_rows(rows.iter().enumerate().map(|(i, r)| IndexRow {
            id: i as i64,
            client: r.0,
            product: r.1,
            region: r.2,
            severity: if i % 2 == 0 {
                Severity::Low
            } else {
                Severity::High
            },
            opened: d(r.3),
            closed: None,
            ticket: None,
            status: None,
        }))
    }

    fn counts<'a>(
        s: &'a SliceSeries,
        client: Option<&str>,
        product: Option<&str>,
        region: Option<&str>,
    ) -> Option<&'a Counts> {
        s.slices
            .iter()
            .find(|(k, _)| {
                k.client.as_deref() == client
                    && k.product.as_deref() == product
                    && k.region.as_deref() == region
            })
            .map(|(_, c)| c)
    }

    const ROWS: &[(&str, &str, &str, &str)] = &[
        ("Acme", "API", "EU", "2025-01-31"), // 13 months before: outside
        ("Acme", "API", "EU", "2025-02-01"), // the first period's first day
        ("Acme", "API", "EU", "2025-11-15"),
        ("Acme", "Billing", "EU", "2026-02-01"),
        ("Acme", "API", "EU", "2026-02-10"), // as_of by default
        ("Globex", "API", "US", "2026-01-31"),
    ];

    #[test]
    fn the_current_month_ends_at_as_of_and_twelve_months_come_before_it() {
        let s = index(ROWS)
            .slice_series(&Filter::default(), Period::Month, None)
            .expect("a series");
        assert_eq!(s.as_of, d("2026-02-10"));
        assert_eq!(s.periods.len(), PERIODS);
        assert_eq!(s.periods[0], (d("2025-02-01"), d("2025-02-28")));
        assert_eq!(s.periods[12], (d("2026-02-01"), d("2026-02-10")));
        let acme = counts(&s, Some("Acme"), None, None).expect("Acme");
        assert_eq!(
            acme.iter().sum::<u32>(),
            4,
            "January 2025 is before the first period"
        );
        assert_eq!((acme[0], acme[9], acme[12]), (1, 1, 2));
        let cell = counts(&s, Some("Acme"), Some("API"), None).expect("Acme x API");
        assert_eq!(cell[12], 1);
        assert_eq!(
            counts(&s, None, Some("API"), Some("US")).expect("API x US")[11],
            1
        );
        assert_eq!(counts(&s, None, None, Some("EU")).expect("EU")[12], 2);
        assert!(
            counts(&s, Some("Globex"), Some("Billing"), None).is_none(),
            "only present slices"
        );

        // An earlier as_of: later rows are not counted, the periods move.
        let s = index(ROWS)
            .slice_series(&Filter::default(), Period::Month, Some(d("2026-01-31")))
            .expect("a series");
        assert_eq!(s.periods[12], (d("2026-01-01"), d("2026-01-31")));
        assert_eq!(
            counts(&s, Some("Globex"), None, None).expect("Globex")[12],
            1
        );
        assert_eq!(counts(&s, Some("Acme"), None, None).expect("Acme")[12], 0);
    }

    #[test]
    fn weeks_run_monday_to_as_of_across_a_year_end() {
        let rows = [
            ("A", "P", "R", "2025-12-29"), // Monday of ISO week 2026-W01
            ("A", "P", "R", "2026-01-01"),
            ("A", "P", "R", "2025-12-28"), // the Sunday before: the previous week
        ];
        let s = index(&rows)
            .slice_series(&Filter::default(), Period::Week, Some(d("2026-01-02")))
            .expect("a series");
        assert_eq!(s.periods[12], (d("2025-12-29"), d("2026-01-02")));
        assert_eq!(s.periods[11], (d("2025-12-22"), d("2025-12-28")));
        let a = counts(&s, Some("A"), None, None).expect("A");
        assert_eq!((a[11], a[12]), (1, 2));
    }

    #[test]
    fn filters_select_escalations_and_nothing_selected_is_no_series() {
        let ix = index(ROWS);
        let f = Filter {
            clients: vec!["Globex".into()],
            from: Some(d("2030-01-01")),
            ..Filter::default()
        };
        let s = ix.slice_series(&f, Period::Month, None).expect("a series");
        assert_eq!(
            s.as_of,
            d("2026-01-31"),
            "the last of Globex's, dates aside"
        );
        assert!(
            s.slices
                .iter()
                .all(|(k, _)| k.client.as_deref() != Some("Acme"))
        );
        let none = Filter {
            clients: vec!["Nobody".into()],
            ..Filter::default()
        };
        assert!(ix.slice_series(&none, Period::Month, None).is_none());
        let highs = Filter {
            severities: vec![Severity::High],
            ..Filter::default()
        };
        let s = ix
            .slice_series(&highs, Period::Month, Some(d("2026-02-10")))
            .expect("a series");
        let total: u32 = counts(&s, None, None, Some("EU")).map_or(0, |c| c.iter().sum());
        assert_eq!(
            total, 2,
            "rows 1 and 3 (odd rows are High; row 5 is in the US)"
        );
    }
}
