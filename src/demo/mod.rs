//! A deterministic generator of realistic support-tool exports, for the sample data `serve`
//! loads on first start, the benchmarks and the tests.
//!
//! The same seed, row count and end date give byte-identical output. The data has what a
//! manager meets in real exports: named client companies with a long tail (a Zipf-like
//! weighting), several products and regions, a severity mix, closed dates for most tickets,
//! and three deliberate hotspots:
//! - a surge of High/Critical **Billing** escalations from one client in the last three months;
//! - **API** escalations from **Asia-Pacific** running hot on Critical throughout;
//! - a **Mobile App** release that went wrong: a spike five months before the end date.

use std::io::Write;

use chrono::{Days, Months, NaiveDate};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub rows: u64,
    pub seed: u64,
    /// The last possible opened date; dates spread over `months` before it.
    pub end: NaiveDate,
    pub months: u32,
}

mod plant;
pub use plant::{PlantKey, PlantSpec, PlantedEvent, generate_planted};

pub const HOTSPOT_CLIENT: &str = "Globex Manufacturing";

const PREFIXES: &[&str] = &[
    "Acme",
    "Northwind",
    "Blue Harbor",
    "Contoso",
    "Fabrikam",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Hooli",
    "Pied Piper",
    "Aperture",
    "Black Mesa",
    "Oceanic",
    "Gringotts",
    "Massive Dynamic",
    "Prestige",
    "Monarch",
    "Sterling",
    "Bluth",
    "Dunder",
    "Gekko",
    "Krusty",
    "Nakatomi",
    "Oscorp",
    "Paper Street",
    "Rekall",
    "Spacely",
    "Tessier",
    "Virtucon",
    "Zorin",
    "Abstergo",
    "Bright Lake",
    "Cedar Point",
    "Silver Fern",
    "Red Rock",
    "Green Valley",
    "Iron Gate",
    "Polar",
    "Summit",
    "Harbor Light",
    "Clearwater",
    "Granite",
    "Maple",
    "Lighthouse",
];
const SUFFIXES: &[&str] = &[
    "Logistics",
    "Systems",
    "Retail",
    "Health",
    "Energy",
    "Foods",
    "Capital",
    "Labs",
    "Media",
    "Telecom",
    "Insurance",
    "Motors",
    "Pharma",
    "Airlines",
    "Bank",
    "Hotels",
    "Studios",
    "Robotics",
    "Analytics",
    "Partners",
];
/// (product, weight)
const PRODUCTS: &[(&str, u32)] = &[
    ("Analytics", 22),
    ("API", 20),
    ("Dashboard", 18),
    ("Reporting", 14),
    ("Billing", 10),
    ("Integrations", 8),
    ("Mobile App", 5),
    ("Single Sign-On", 3),
];
const REGIONS: &[(&str, u32)] = &[
    ("North America", 38),
    ("Europe", 30),
    ("Asia-Pacific", 16),
    ("Latin America", 9),
    ("Middle East & Africa", 7),
];
/// Priority as written by the source tool, with weight: P4 (Low) .. P1 (Critical).
const PRIORITIES: &[(&str, u32)] = &[("P4", 40), ("P3", 35), ("P2", 18), ("P1", 7)];
const ISSUES: &[&str] = &[
    "timeouts during peak hours",
    "data not refreshing",
    "export fails with error 500",
    "slow page loads",
    "incorrect totals in monthly report",
    "login loop after password reset",
    "webhook deliveries delayed",
    "rate limit errors",
    "missing records after sync",
    "invoice shows wrong tax",
    "crash on startup",
    "permissions not applied",
    "duplicate notifications",
    "dashboard widgets blank",
    "SSO certificate expired",
];
const FIRST: &[&str] = &[
    "alex", "sam", "jordan", "taylor", "morgan", "casey", "riley", "jamie", "avery", "quinn",
    "kim", "lee",
];
const LAST: &[&str] = &[
    "nguyen", "garcia", "smith", "müller", "rossi", "tanaka", "kowalski", "okafor", "silva",
    "dubois",
];

fn pick<'a>(rng: &mut fastrand::Rng, items: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.u32(0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    items[0].0
}

/// `n` distinct company names: every prefix meets every suffix once (pairs `(p, (q + p) % S)`
/// are distinct), then the same again with a number.
fn client_names(n: usize) -> Vec<String> {
    let (np, ns) = (PREFIXES.len(), SUFFIXES.len());
    let mut names = vec![HOTSPOT_CLIENT.to_owned()];
    let mut k = 0;
    while names.len() < n {
        let (p, q, round) = (k % np, (k / np) % ns, k / (np * ns));
        let base = format!("{} {}", PREFIXES[p], SUFFIXES[(q + p) % ns]);
        let name = if round == 0 {
            base
        } else {
            format!("{base} {}", round + 1)
        };
        if name != HOTSPOT_CLIENT {
            names.push(name);
        }
        k += 1;
    }
    names
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// How many client companies an export of `rows` escalations names: three per square root of
/// the rows up to a million (948 at 100,000, 3,000 at a million), three per thousand rows beyond
/// (30,000 at ten million, the size the scale targets are set at), at most 100,000.
fn client_count(rows: u64) -> usize {
    let rows = rows as f64;
    (rows.sqrt() * 3.0).max(rows * 0.003).clamp(12.0, 100_000.0) as usize
}

/// Writes `spec.rows` escalations as a CSV export. Returns the number of rows written.
pub fn generate(spec: &DemoSpec, out: impl Write) -> Result<u64, csv::Error> {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let n_clients = client_count(spec.rows);
    let clients = client_names(n_clients);
    // Zipf-like weights, as a cumulative table for binary search.
    let mut cumulative = Vec::with_capacity(clients.len());
    let mut acc = 0.0;
    for k in 0..clients.len() {
        acc += 1.0 / ((k + 1) as f64).powf(1.1);
        cumulative.push(acc);
    }
    let start = spec
        .end
        .checked_sub_months(Months::new(spec.months))
        .unwrap_or(spec.end);
    let span_days = (spec.end - start).num_days().max(1) as u64;
    let days_ago = |d: u64| spec.end.checked_sub_days(Days::new(d)).unwrap_or(spec.end);

    let mut w = writer(out)?;
    for i in 0..spec.rows {
        let roll = rng.u32(0..100);
        let (client, product, region, priority, opened) = if roll < 3 {
            // Hotspot 1: one client's billing escalations surge over the last three months.
            let pr = if rng.bool() { "P1" } else { "P2" };
            (
                HOTSPOT_CLIENT.to_owned(),
                "Billing",
                pick(&mut rng, REGIONS),
                pr,
                days_ago(rng.u64(0..90)),
            )
        } else if roll < 6 {
            // Hotspot 2: API in Asia-Pacific runs hot on Critical all along.
            let c = clients[rng.usize(1..clients.len().max(2)).min(clients.len() - 1)].clone();
            let pr = if rng.u32(0..10) < 6 { "P1" } else { "P2" };
            (
                c,
                "API",
                "Asia-Pacific",
                pr,
                days_ago(rng.u64(0..span_days)),
            )
        } else if roll < 8 {
            // Hotspot 3: a bad Mobile App release five months ago.
            let c = clients[rng.usize(0..clients.len())].clone();
            let pr = pick(&mut rng, &[("P3", 4), ("P2", 4), ("P1", 2)]);
            (
                c,
                "Mobile App",
                pick(&mut rng, REGIONS),
                pr,
                days_ago(150 + rng.u64(0..21)),
            )
        } else {
            let x = rng.f64() * acc;
            let k = cumulative
                .partition_point(|&c| c < x)
                .min(clients.len() - 1);
            let c = clients[k].clone();
            (
                c,
                pick(&mut rng, PRODUCTS),
                pick(&mut rng, REGIONS),
                pick(&mut rng, PRIORITIES),
                days_ago(rng.u64(0..span_days)),
            )
        };
        write_ticket(
            &mut w,
            &mut rng,
            100_000 + i,
            &client,
            product,
            region,
            priority,
            opened,
            spec.end,
        )?;
    }
    w.flush()?;
    Ok(spec.rows)
}

/// A CSV writer with the export's header written.
fn writer<W: Write>(out: W) -> Result<csv::Writer<W>, csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "Ticket ID",
        "Customer",
        "Product",
        "Region",
        "Priority",
        "Created",
        "Resolved",
        "Status",
        "Subject",
        "Contact Email",
        "Contact Phone",
    ])?;
    Ok(w)
}

/// Writes one ticket: its opening time, a closing date for most (urgent ones sooner, never after
/// `end`), a status, a subject and a contact.
#[allow(clippy::too_many_arguments)]
fn write_ticket<W: Write>(
    w: &mut csv::Writer<W>,
    rng: &mut fastrand::Rng,
    id: u64,
    client: &str,
    product: &str,
    region: &str,
    priority: &str,
    opened: NaiveDate,
    end: NaiveDate,
) -> Result<(), csv::Error> {
    let created = format!(
        "{}T{:02}:{:02}:{:02}Z",
        opened,
        rng.u32(7..20),
        rng.u32(0..60),
        rng.u32(0..60)
    );
    // Most tickets get resolved; urgent ones faster.
    let mean_days = match priority {
        "P1" => 2.0,
        "P2" => 5.0,
        "P3" => 10.0,
        _ => 20.0,
    };
    let took = (-(1.0 - rng.f64()).ln() * mean_days).ceil() as u64;
    let closed = opened
        .checked_add_days(Days::new(took))
        .filter(|d| *d <= end && rng.u32(0..100) < 92);
    let (resolved, status) = match closed {
        Some(d) => (
            format!("{d}T{:02}:{:02}:00Z", rng.u32(8..19), rng.u32(0..60)),
            if rng.bool() { "Resolved" } else { "Closed" },
        ),
        None => (
            String::new(),
            ["Open", "In Progress", "Waiting on Customer"][rng.usize(0..3)],
        ),
    };
    let first = FIRST[rng.usize(0..FIRST.len())];
    let last = LAST[rng.usize(0..LAST.len())];
    let email = format!("{first}.{}@{}.example", slug(last), slug(client));
    let phone = format!("+1-555-01{:02}", rng.u32(0..100));
    let subject = format!("{product}: {}", ISSUES[rng.usize(0..ISSUES.len())]);
    w.write_record([
        format!("ESC-{id}"),
        client.to_owned(),
        product.to_owned(),
        region.to_owned(),
        priority.to_owned(),
        created,
        resolved,
        status.to_owned(),
        subject,
        email,
        phone,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_count;

    #[test]
    fn the_client_count_grows_with_the_rows_as_the_scale_targets_assume() {
        let counts = [1, 100, 100_000, 1_000_000, 10_000_000, 1_000_000_000].map(client_count);
        assert_eq!(counts, [12, 30, 948, 3_000, 30_000, 100_000]);
    }
}
