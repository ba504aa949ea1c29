//! Digests: what changed in a view over a period, composed from the answers the dashboard gives
//! (the cards against the period before, the findings, the accounts whose risk rose most, one
//! heatmap as a PNG), every link absolute. Rendering is `render::Digest`'s; wrapping it into a
//! message is `mail`'s.

use chrono::{Days, NaiveDate};

use super::{App, AppError};
use crate::analytics::{Filter, HeatmapQuery};
use crate::domain::{Every, Period};
use crate::query::dashboard::{DashboardTab, heatmap_query};
use crate::query::{ParamError, Params};
use crate::render::{
    Digest, DigestAccount, DigestFinding, SvgOptions, cards, grouped, heatmap_svg, svg_to_png,
};

/// Findings and accounts a digest lists at most.
const TOP_FINDINGS: usize = 5;
const TOP_ACCOUNTS: usize = 5;
/// The heatmap's width in a mail (most mail programs show about 600 to 700 px).
const IMAGE_WIDTH: f64 = 640.0;

/// What to digest: a dashboard state, for the period of `every` ending `as_of`.
pub struct DigestRequest<'a> {
    /// "Globex weekly", or none for the whole dashboard.
    pub view: Option<&'a str>,
    /// The dashboard's query string (a saved view's, with any filters added).
    pub query: &'a str,
    /// The period's last day; by default the newest escalation's day (or today, if sooner).
    pub as_of: Option<NaiveDate>,
    pub every: Every,
    /// Where the dashboard is reached, e.g. `https://escamap.example.com` (links are absolute).
    pub public_url: &'a str,
    /// Why the reader gets it, said at the bottom.
    pub why: Option<String>,
    pub unsubscribe_url: Option<String>,
}

/// A digest and its heatmap image.
pub struct DigestOut {
    pub digest: Digest,
    pub png: Vec<u8>,
}

impl From<ParamError> for AppError {
    fn from(e: ParamError) -> Self {
        AppError::BadDigestQuery(e.to_string())
    }
}

impl App {
    pub fn digest(&self, r: &DigestRequest<'_>) -> Result<DigestOut, AppError> {
        let p = Params::parse(Some(r.query));
        let filter = p.filter()?;
        let index = self.index();
        let last = r.as_of.unwrap_or_else(|| {
            index
                .date_range()
                .map_or(self.today(), |(_, last)| last.min(self.today()))
        });
        let (from, to) = r.every.period_ending(last);
        let within = Filter {
            from: Some(from),
            to: Some(to),
            ..filter.clone()
        };
        let base = r.public_url.trim_end_matches('/');
        let compared = self.stats_compared(&within)?;
        let period_text = match (&compared.previous, compared.before.is_some()) {
            (Some(prev), true) => format!(
                "{from} to {to}, against {} to {}",
                prev.from.map(|d| d.to_string()).unwrap_or_default(),
                prev.to.map(|d| d.to_string()).unwrap_or_default()
            ),
            _ => format!("{from} to {to}"),
        };
        let period = if r.every == Every::Monthly {
            Period::Month
        } else {
            Period::Week
        };
        let found = self.insights(&filter, period, Some(to), TOP_FINDINGS)?;
        let findings = found
            .findings
            .iter()
            .map(|f| DigestFinding::of(f, found.current, base))
            .collect();
        let accounts = self.risen_accounts(&filter, from, to, base)?;
        // The view's heatmap: a time axis over the dashboard's 13 months, any other over the
        // period itself.
        let tab = DashboardTab::from_params(&p)?;
        let (query, _) = heatmap_query(tab, &p, &within)?;
        let over_time = query.rows.is_time() || query.cols.is_time();
        let query = HeatmapQuery {
            compare: None,
            filter: if over_time {
                filter.recent(to)
            } else {
                query.filter.clone()
            },
            ..query
        };
        let map = self.heatmap(&query);
        let svg = heatmap_svg(
            &map,
            &SvgOptions {
                title: query.title(),
                subtitle: query.describe(),
                palette: p.palette()?,
                max_width: Some(IMAGE_WIDTH),
                ..SvgOptions::default()
            },
        );
        let png = svg_to_png(&svg, 1.5).map_err(|e| AppError::Output(e.to_string()))?;
        let digest = Digest {
            title: match r.view {
                Some(v) => format!("EscaMap digest: {v}"),
                None => "EscaMap digest".to_owned(),
            },
            period_text,
            // The dates are the period's, said apart.
            describe: filter
                .describe_slice()
                .unwrap_or_else(|| "every escalation".to_owned()),
            cards: cards(&compared),
            findings,
            accounts,
            dashboard_url: if r.query.is_empty() {
                format!("{base}/")
            } else {
                format!("{base}/?{}", r.query)
            },
            heatmap_title: query.title(),
            heatmap_alt: format!(
                "{}, {}: {} rows, {} columns",
                query.title(),
                query.describe(),
                map.rows.len(),
                map.cols.len()
            ),
            why: r.why.clone(),
            unsubscribe_url: r.unsubscribe_url.clone(),
        };
        Ok(DigestOut { digest, png })
    }

    /// The accounts whose risk rose most from the day before `from` to `to`.
    fn risen_accounts(
        &self,
        filter: &Filter,
        from: NaiveDate,
        to: NaiveDate,
        base: &str,
    ) -> Result<Vec<DigestAccount>, AppError> {
        let before_day = from.checked_sub_days(Days::new(1)).unwrap_or(from);
        let all = crate::analytics::risk::MAX_LIMIT;
        let now = self.accounts(filter, Some(to), all)?;
        let before = self.accounts(filter, Some(before_day), all)?;
        let earlier: std::collections::HashMap<&str, f64> = before
            .accounts
            .iter()
            .map(|a| (a.client.as_str(), a.risk))
            .collect();
        let mut risen: Vec<(f64, &crate::analytics::risk::Account)> = now
            .accounts
            .iter()
            .map(|a| {
                (
                    a.risk - earlier.get(a.client.as_str()).copied().unwrap_or(0.0),
                    a,
                )
            })
            .filter(|(d, _)| *d > 0.5)
            .collect();
        risen.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.risk.total_cmp(&a.1.risk)));
        Ok(risen
            .into_iter()
            .take(TOP_ACCOUNTS)
            .map(|(d, a)| DigestAccount {
                client: a.client.clone(),
                risk: format!("{:.0}", a.risk),
                change: format!("+{d:.0} since {before_day}"),
                recent: format!("{} escalations", grouped(u64::from(a.last_90_days))),
                url: format!(
                    "{base}/?{}",
                    Params::encode([
                        ("tab", "client-overview".to_owned()),
                        ("client", a.client.clone())
                    ])
                ),
            })
            .collect())
    }
}
