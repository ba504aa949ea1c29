//! The command line: clap types and dispatch. Each command translates its arguments into calls on
//! [`App`], exactly as the web handlers do, so both behave the same.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analytics::{Filter, HeatmapQuery};
use crate::analytics::{insights, risk};
use crate::app::App;
use crate::config::{ServeArgs, Settings};
use crate::demo::{DemoSpec, PlantSpec, generate, generate_planted};
use crate::domain::{
    Compare, Dimension, Measure, Normalize, Password, Period, Role, Severity, UserName, View,
    parse_flexible_date,
};
use crate::ingest::Input;
use crate::render::{Palette, SvgOptions, heatmap_csv, heatmap_svg, svg_to_png};
use crate::store::Location;

#[derive(Debug, Parser)]
#[command(
    name = "escamap",
    version,
    about = "Where client escalations concentrate: heatmaps, stats and drill-down"
)]
pub struct Cli {
    /// The store: a SQLite file (created on first use) or a PostgreSQL URL,
    /// postgres://user:password@host:port/database (migrated on first use).
    #[arg(
        long,
        global = true,
        env = "ESCAMAP_DB",
        hide_env_values = true,
        default_value = "escamap.db",
        value_name = "PATH|URL"
    )]
    pub db: Location,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web dashboard and JSON API.
    Serve(ServeArgs),
    /// Import CSV/TSV files (contact lists or support-tool exports), each in one transaction.
    Import(ImportArgs),
    /// The four headline numbers for the filtered escalations.
    Stats(StatsArgs),
    /// Draw a heatmap to SVG, PNG, CSV or JSON (the extension of --out picks).
    Render(RenderArgs),
    /// Opened, closed and still open per month or week, with the mean days to resolve.
    Backlog(BacklogArgs),
    /// What changed: spikes, new hotspots, rising and cooling slices, most urgent first.
    Insights(InsightsArgs),
    /// Clients ranked by risk (volume against their norm, growth, severity, backlog, resolution).
    Accounts(AccountsArgs),
    /// Write the filtered escalations as CSV, in the export format EscaMap reads back.
    Export(ExportArgs),
    /// List or delete imports.
    Imports {
        #[command(subcommand)]
        action: ImportsAction,
    },
    /// List, show or delete source profiles (mappings kept with `import --save-profile`).
    Profiles {
        #[command(subcommand)]
        action: ProfilesAction,
    },
    /// Write a digest of a view to a file, or send it by mail now.
    Digest {
        #[command(subcommand)]
        action: DigestAction,
    },
    /// Digests by e-mail or webhook on a schedule: add, list, remove, and send what is due.
    Subscriptions {
        #[command(subcommand)]
        action: SubscriptionsAction,
    },
    /// Alerts on new findings after each import, by e-mail or webhook: add, list, remove, run.
    Alerts {
        #[command(subcommand)]
        action: AlertsAction,
    },
    /// List, save or delete saved views (a name and the dashboard's query string).
    Views {
        #[command(subcommand)]
        action: ViewsAction,
    },
    /// Generate a realistic, deterministic support-tool export for demos and benchmarks.
    DemoData(DemoArgs),
    /// Manage accounts and API tokens.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Copy a whole store into a new, empty one (SQLite to PostgreSQL, or back), in one
    /// transaction: all or nothing. Sessions are not copied.
    MigrateStore(MigrateArgs),
    /// Ask a running server whether it is up (`GET /healthz`): exit 0 when it answers 200 with
    /// `{"status": "ok"}`, 1 otherwise. For a container's HEALTHCHECK: it needs nothing but this
    /// binary.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The health address to ask [default: http://127.0.0.1:PORT/healthz, PORT as `serve` takes
    /// it: ESCAMAP_PORT, then FLASK_PORT, then 5000].
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy: a SQLite file or a PostgreSQL URL.
    #[arg(long, value_name = "PATH|URL")]
    pub from: Location,
    /// The store to copy into; it must hold no data yet.
    #[arg(long, value_name = "PATH|URL")]
    pub to: Location,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create an account. The password is asked for, or read from standard input.
    Add {
        /// The account's name (letters, digits, `.`, `_`, `-`).
        name: UserName,
        /// viewer (pages and read API), editor (also import and delete) or admin (also accounts).
        #[arg(long)]
        role: Role,
    },
    /// List accounts.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an account, its sessions and its API tokens.
    Remove {
        /// The account's name.
        name: String,
    },
    /// Set a new password (asked for, or read from standard input); ends the account's sessions.
    SetPassword {
        /// The account's name.
        name: String,
    },
    /// Create an API token for an account; it is printed once and stored only as a digest.
    Token {
        /// The account's name.
        name: String,
        /// What the token is for, shown when tokens are listed.
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

/// Filters shared by every command that reads escalations.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// First opened date to include (YYYY-MM-DD).
    #[arg(long, value_parser = parse_flexible_date)]
    pub from: Option<NaiveDate>,
    /// Last opened date to include (YYYY-MM-DD).
    #[arg(long, value_parser = parse_flexible_date)]
    pub to: Option<NaiveDate>,
    #[command(flatten)]
    pub slice: SliceArgs,
}

/// The filters besides the dates (a digest's period is its own, and its `--to` is a recipient).
#[derive(Debug, Clone, Default, Args)]
pub struct SliceArgs {
    /// Only this client (repeatable).
    #[arg(long = "client", value_name = "CLIENT")]
    pub clients: Vec<String>,
    /// Only this product (repeatable).
    #[arg(long = "product", value_name = "PRODUCT")]
    pub products: Vec<String>,
    /// Only this region (repeatable).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Only this severity: low, medium, high, critical, P1..P4 ... (repeatable).
    #[arg(long = "severity", value_name = "SEVERITY")]
    pub severities: Vec<Severity>,
    /// Only clients whose name contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub client_search: Option<String>,
}

/// `f`, after saying on standard error which of its values match nothing in `app`'s data.
fn noted(app: &App, f: Filter) -> Filter {
    for u in app.unmatched(&f) {
        eprintln!("note: {u}");
    }
    f
}

impl SliceArgs {
    /// The filter, after saying on standard error which of its values match nothing in `app`'s
    /// data ("no escalations for product `billing`; did you mean Billing?").
    pub fn resolve(&self, app: &App) -> anyhow::Result<Filter> {
        Ok(noted(app, self.to_filter()))
    }

    pub fn to_filter(&self) -> Filter {
        Filter {
            clients: self.clients.clone(),
            products: self.products.clone(),
            regions: self.regions.clone(),
            severities: self.severities.clone(),
            client_search: self.client_search.clone(),
            ..Filter::default()
        }
    }
}

impl FilterArgs {
    /// [`SliceArgs::resolve`], with the dates.
    pub fn resolve(&self, app: &App) -> anyhow::Result<Filter> {
        Ok(noted(app, self.to_filter()?))
    }

    pub fn to_filter(&self) -> anyhow::Result<Filter> {
        let f = Filter {
            from: self.from,
            to: self.to,
            ..self.slice.to_filter()
        };
        f.validate()?;
        Ok(f)
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the report as JSON (one object per file, one per line).
    #[arg(long)]
    pub json: bool,
    /// Write the rejected rows (their cells as read, plus a `rejected because` column) to this
    /// CSV, to fix and import again. With several files, the last file's rejections.
    #[arg(long, value_name = "FILE")]
    pub rejected_out: Option<PathBuf>,
    /// Read this column as this field (repeatable; wins over recognised names). FIELD is one of
    /// client, product, region, severity, opened, closed, id, status, summary, email, phone.
    #[arg(long = "map", value_name = "FIELD=COLUMN", value_parser = crate::ingest::mapping::parse_column_arg)]
    pub map: Vec<(crate::ingest::mapping::Field, String)>,
    /// Read this severity value as this level: low, medium, high, critical, or reject to reject
    /// its rows (repeatable).
    #[arg(long = "severity-map", value_name = "VALUE=LEVEL", value_parser = crate::ingest::mapping::parse_severity_arg)]
    pub severity_map: Vec<(String, crate::ingest::mapping::SeverityChoice)>,
    /// Read numeric dates such as 03/04/2026 day first or month first, instead of deciding from
    /// the file.
    #[arg(long, value_name = "ORDER")]
    pub date_order: Option<DateOrderArg>,
    /// Use this saved source profile (a profile saved for the file's header is used anyway).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Keep the mapping used as a source profile of this name, for files with this header.
    #[arg(long, value_name = "NAME")]
    pub save_profile: Option<String>,
    /// Rows (imported plus rejected) accepted in one file; a larger file is refused whole.
    #[arg(long, env = "ESCAMAP_MAX_IMPORT_ROWS", default_value_t = 5_000_000)]
    pub max_import_rows: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DateOrderArg {
    DayFirst,
    MonthFirst,
}

impl ImportArgs {
    fn options(&self) -> crate::app::ImportOptions {
        crate::app::ImportOptions {
            mapping: crate::ingest::mapping::Mapping {
                columns: self.map.clone(),
                severities: self.severity_map.clone(),
                date_order: self.date_order.map(|o| match o {
                    DateOrderArg::DayFirst => crate::domain::DayOrder::DayFirst,
                    DateOrderArg::MonthFirst => crate::domain::DayOrder::MonthFirst,
                }),
                ..Default::default()
            },
            profile: self.profile.clone(),
            save_profile: self.save_profile.clone(),
            stop_at_unknown_severity: false,
        }
    }
}

/// `escamap import`'s exit code when a file's every row was rejected (nothing imported).
pub const EXIT_ALL_REJECTED: u8 = 3;

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Print the four numbers as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BacklogArgs {
    /// The client, product, region and severity filters select escalations; --from and --to
    /// only choose the periods shown (what is open at a date depends on everything before it).
    #[command(flatten)]
    pub filter: FilterArgs,
    /// month or week.
    #[arg(long, default_value = "month")]
    pub period: Period,
    /// Print the series as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InsightsArgs {
    /// The client, product, region and severity filters select escalations; --to is the default
    /// for --as-of, --from is not used.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The day the current period runs to (default: the last opened date selected).
    #[arg(long, value_parser = parse_flexible_date)]
    pub as_of: Option<NaiveDate>,
    /// month or week.
    #[arg(long, default_value = "month")]
    pub period: Period,
    /// At most this many findings (1 to 10000).
    #[arg(long, default_value_t = insights::DEFAULT_LIMIT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=insights::MAX_LIMIT as u64))]
    pub limit: usize,
    /// Print the findings as JSON (the API's answer).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// The client, product, region and severity filters select escalations; --to is the default
    /// for --as-of, --from is not used.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The day the windows end (default: the last opened date selected).
    #[arg(long, value_parser = parse_flexible_date)]
    pub as_of: Option<NaiveDate>,
    /// At most this many accounts (1 to 100000).
    #[arg(long, default_value_t = risk::DEFAULT_LIMIT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=risk::MAX_LIMIT as u64))]
    pub limit: usize,
    /// Print the accounts as JSON (the API's answer).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    Svg,
    Png,
    Csv,
    Json,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["view", "rows"]))]
pub struct RenderArgs {
    /// One of the original dashboard's views: product-timeline, regional or client-overview.
    #[arg(long, conflicts_with_all = ["rows", "cols", "measure"])]
    pub view: Option<View>,
    /// Row dimension: client, product, region, severity, month, quarter, week.
    #[arg(long, requires = "cols")]
    pub rows: Option<Dimension>,
    /// Column dimension.
    #[arg(long, requires = "rows")]
    pub cols: Option<Dimension>,
    /// count, score (sum of severity scores), mean (mean score), high (High + Critical), mttr
    /// (mean days to resolve, over those closed) or open (without a closed date).
    #[arg(long)]
    pub measure: Option<Measure>,
    /// Show each value as a share of its row's, column's or the grand total (row, col, total);
    /// for count, score, high and open.
    #[arg(long)]
    pub normalize: Option<Normalize>,
    /// `previous`: set the grid against the period of equal length before --from..--to (needs
    /// both, and two dimensions that are not time).
    #[arg(long)]
    pub compare: Option<Compare>,
    /// Keep the first N rows after ordering. SVG and PNG default to 50 so that a heatmap of
    /// thousands of clients stays readable; CSV and JSON default to all rows.
    #[arg(long)]
    pub top: Option<usize>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output file; its extension (.svg, .png, .csv, .json) picks the format. `-` is stdout.
    #[arg(long)]
    pub out: PathBuf,
    /// Output format, when the extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    /// Colour scale: viridis, cividis or reds.
    #[arg(long, default_value = "viridis")]
    pub palette: Palette,
    /// Title drawn above the heatmap.
    #[arg(long)]
    pub title: Option<String>,
    /// Fit the SVG or PNG into this many pixels of width: columns narrow, labels thin out, and
    /// the oldest periods are left out (said in a note) when even that is not enough.
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(200..=10_000))]
    pub width: Option<u32>,
    /// PNG scale factor.
    #[arg(long, default_value_t = 2.0)]
    pub scale: f32,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output CSV file; `-` is stdout.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesAction {
    /// Every profile, by name.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One profile's mapping, as JSON.
    Show {
        /// The profile's name.
        name: String,
    },
    /// Delete a profile.
    Delete {
        /// The profile's name.
        name: String,
    },
}

/// What a digest is about: a saved view (or the whole dashboard), more filters, the period.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The saved view to digest; without it, the whole dashboard.
    #[arg(long, value_name = "NAME")]
    pub view: Option<String>,
    #[command(flatten)]
    pub filter: SliceArgs,
    /// The period's last day (default: the newest escalation's day, or today if sooner).
    #[arg(long, value_parser = parse_flexible_date)]
    pub as_of: Option<NaiveDate>,
    /// The period: the day, the seven days or the month to --as-of.
    #[arg(long, default_value = "weekly")]
    pub every: crate::domain::Every,
    #[command(flatten)]
    pub links: LinkArgs,
}

/// Where the dashboard is reached, for a digest's links.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Where the dashboard is reached, for the digest's links (they are absolute).
    #[arg(
        long,
        env = "ESCAMAP_PUBLIC_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub public_url: String,
}

#[derive(Debug, Subcommand)]
pub enum DigestAction {
    /// Write the digest: FILE.html (open it in a browser) or FILE.eml (the message as sent).
    Preview {
        #[command(flatten)]
        digest: DigestArgs,
        /// The file to write; its extension (.html or .eml) picks the form.
        #[arg(long)]
        out: PathBuf,
        /// The sender written into a .eml.
        #[arg(
            long,
            env = "ESCAMAP_MAIL_FROM",
            default_value = "EscaMap <escamap@localhost>"
        )]
        mail_from: String,
        /// The recipients written into a .eml.
        #[arg(long = "to", value_name = "ADDR")]
        to: Vec<String>,
    },
    /// Send the digest now, through SMTP.
    Send {
        #[command(flatten)]
        digest: DigestArgs,
        /// A recipient (repeatable).
        #[arg(long = "to", value_name = "ADDR", required = true)]
        to: Vec<String>,
        #[command(flatten)]
        smtp: SmtpArgs,
    },
}

/// The mail server and the sender, for commands that send.
#[derive(Debug, Args)]
pub struct SmtpArgs {
    /// smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465.
    #[arg(long, env = "ESCAMAP_SMTP_URL", hide_env_values = true)]
    pub smtp_url: String,
    /// The sender, e.g. 'EscaMap <escamap@example.com>'.
    #[arg(long, env = "ESCAMAP_MAIL_FROM")]
    pub mail_from: String,
}

/// How commands that deliver send: the mail server (optional: webhooks need none), the sender,
/// the public URL.
#[derive(Debug, Args)]
pub struct OutboundArgs {
    /// smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465; without it,
    /// e-mail targets fail (and are retried later).
    #[arg(long, env = "ESCAMAP_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender, e.g. 'EscaMap <escamap@example.com>'.
    #[arg(
        long,
        env = "ESCAMAP_MAIL_FROM",
        default_value = "EscaMap <escamap@localhost>"
    )]
    pub mail_from: String,
    #[command(flatten)]
    pub links: LinkArgs,
}

impl OutboundArgs {
    fn mailer(&self) -> anyhow::Result<Option<crate::mail::Mailer>> {
        Ok(match &self.smtp_url {
            Some(u) => Some(crate::mail::Mailer::from_url(u)?),
            None => None,
        })
    }
}

/// Where a subscription or an alert goes: one of the two.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// An e-mail address.
    #[arg(long, value_name = "ADDR")]
    pub email: Option<String>,
    /// A webhook URL: it gets a signed JSON POST (a Slack or Teams incoming webhook works).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
}

/// Prints a new webhook target's secret, the one time it is shown.
fn show_secret(secret: Option<String>) {
    if let Some(s) = secret {
        println!(
            "webhook secret (shown once; the receiver checks X-EscaMap-Signature: sha256=HMAC-SHA256(secret, body)):\n{s}"
        );
    }
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Alert a user to new findings matching kinds, a slice and a minimum score.
    Add {
        /// The user it is for.
        #[arg(long)]
        user: String,
        /// Only findings of this kind: spike, emerging, rising, cooling (repeatable; default:
        /// every kind).
        #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
        kinds: Vec<String>,
        /// The slice: a saved view's filters (with any filter flags added).
        #[arg(long, value_name = "NAME")]
        view: Option<String>,
        #[command(flatten)]
        filter: SliceArgs,
        /// Only findings at least this urgent (the score is -log10 of the test's p-value).
        #[arg(long, default_value_t = 0.0)]
        min_score: f64,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Every alert, with its messages.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an alert (what it saw and sent goes with it).
    Remove {
        /// The alert's id, as `list` shows it.
        id: i64,
    },
    /// Ask every alert its question now, and send what is queued (for cron, and for tests).
    Run {
        /// The instant to judge by (RFC 3339); default: now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        outbound: OutboundArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionsAction {
    /// Subscribe a user to a digest of a view (or of the whole dashboard) by e-mail or webhook.
    Add {
        /// The user it is for (their views, their name in the mail).
        #[arg(long)]
        user: String,
        /// When: 'daily 08:00', 'weekly mon 08:00' or 'monthly 1 08:00'.
        #[arg(long)]
        schedule: String,
        /// The schedule's time zone, an IANA name.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// A saved view the user sees; without it, the whole dashboard.
        #[arg(long, value_name = "NAME")]
        view: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Every subscription, with its next slot and its last deliveries.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a subscription (its delivery record goes with it).
    Remove {
        /// The subscription's id, as `list` shows it.
        id: i64,
    },
    /// Send what is due at that instant and exit (for cron, and for tests).
    RunDue {
        /// The instant to judge by (RFC 3339); default: now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        outbound: OutboundArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ViewsAction {
    /// Every saved view, by name (the command line sees them all).
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save the dashboard's state under NAME (replacing a view of that name).
    Save {
        /// The view's name (1 to 80 characters).
        name: String,
        /// The dashboard's query string, e.g. 'tab=client-overview&client=Globex'.
        #[arg(long)]
        query: String,
        /// Keep it for this user only (a user name); without it the view is shared with everyone.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
    },
    /// Delete a saved view.
    Delete {
        /// The view's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportsAction {
    /// All imports, newest first.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an import and the escalations it last wrote.
    Delete {
        /// The import's id, as `imports list` shows it.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of escalations.
    #[arg(long, default_value_t = 2_000)]
    pub rows: u64,
    /// Output CSV file; `-` is stdout.
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Last opened date (default: today).
    #[arg(long, value_parser = parse_flexible_date)]
    pub end: Option<NaiveDate>,
    /// Months of history before the end date.
    #[arg(long, default_value_t = 26)]
    pub months: u32,
    /// Write a planted world instead (24 full months of negative-binomial counts with events
    /// planted in the last ones) and its key, the events as JSON, to this file.
    #[arg(long, value_name = "KEY.json")]
    pub plant: Option<PathBuf>,
    /// Events to plant with --plant (0: a quiet world).
    #[arg(long, default_value_t = 12, requires = "plant")]
    pub events: usize,
}

/// Rows drawn in SVG/PNG when `--top` is not given.
pub const DEFAULT_DRAWN_ROWS: usize = 50;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its requests; one-shot commands only say what went wrong.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    if let Err(e) = crate::telemetry::init(default_level) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => serve(&cli.db, &a),
        Command::DemoData(a) => demo_data(&a),
        Command::Import(a) => import(
            &open_unindexed(&cli.db)?.with_limits(crate::app::ImportLimits {
                max_rows: a.max_import_rows.max(1),
            }),
            &a,
        ),
        Command::Stats(a) => stats(&open_to_read(&cli.db)?, &a),
        Command::Render(a) => render(&open_to_read(&cli.db)?, &a),
        Command::Backlog(a) => backlog(&open_to_read(&cli.db)?, &a),
        Command::Insights(a) => insights_command(&open_to_read(&cli.db)?, &a),
        Command::Accounts(a) => accounts_command(&open_to_read(&cli.db)?, &a),
        Command::Export(a) => export(&open_to_read(&cli.db)?, &a),
        Command::Imports { action } => imports(&open_unindexed(&cli.db)?, action),
        Command::Profiles { action } => profiles(&open_unindexed(&cli.db)?, action),
        Command::Views { action } => views(&open_unindexed(&cli.db)?, action),
        Command::Subscriptions { action } => subscriptions(&open(&cli.db)?, action),
        Command::Alerts { action } => alerts(&open(&cli.db)?, action),
        Command::Digest { action } => digest(&open_to_read(&cli.db)?, action),
        Command::User { action } => user(&open_unindexed(&cli.db)?, action),
        Command::MigrateStore(a) => migrate_store(&a),
        Command::Healthcheck(a) => healthcheck(&a),
    }
}

fn healthcheck(a: &HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = match &a.url {
        Some(u) => u.clone(),
        None => format!(
            "http://127.0.0.1:{}/healthz",
            crate::config::port_from_env()?
        ),
    };
    let agent = crate::webhook::agent(std::time::Duration::from_secs(a.timeout_secs.max(1)));
    let unhealthy = |why: String| {
        eprintln!("unhealthy: {url}: {why}");
        Ok(ExitCode::FAILURE)
    };
    let mut answer = match agent.get(&url).call() {
        Ok(a) => a,
        Err(e) => return unhealthy(e.to_string()),
    };
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    let ok = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v["status"] == "ok");
    if status == 200 && ok {
        println!("healthy: {url}");
        Ok(ExitCode::SUCCESS)
    } else {
        unhealthy(format!("HTTP {status}: {}", body.trim()))
    }
}

fn migrate_store(a: &MigrateArgs) -> anyhow::Result<ExitCode> {
    if a.from == a.to {
        bail!("--from and --to are the same store");
    }
    if let Location::Sqlite(p) = &a.from
        && !p.exists()
    {
        bail!("there is no store at {}", p.display());
    }
    let mut from = a
        .from
        .open()
        .with_context(|| format!("opening {}", a.from))?;
    let mut to = a.to.open().with_context(|| format!("opening {}", a.to))?;
    let started = std::time::Instant::now();
    let bar = std::io::stderr()
        .is_terminal()
        .then(indicatif::ProgressBar::new_spinner);
    let summary = crate::store::copy_store(from.as_mut(), to.as_mut(), &mut |s| {
        if let Some(b) = &bar {
            b.set_message(format!("{} escalations copied", s.escalations));
            b.tick();
        }
    })
    .with_context(|| format!("copying {} into {} (nothing was written)", a.from, a.to))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "copied {} imports, {} escalations, {} accounts, {} API tokens and {} source profiles from {} into {} in {:.1} s",
            summary.imports,
            summary.escalations,
            summary.users,
            summary.tokens,
            summary.profiles,
            a.from,
            a.to,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(db: &Location, a: &ServeArgs) -> anyhow::Result<ExitCode> {
    crate::startup::serve(Settings::from_args(db, a)?)?;
    Ok(ExitCode::SUCCESS)
}

fn open(db: &Location) -> anyhow::Result<App> {
    App::open(db).with_context(|| format!("opening the store {db}"))
}

/// [`open`], for a command that never reads the escalations back (an import, accounts, views):
/// no index is loaded or rebuilt, which at a million escalations is most of such a command's time.
fn open_unindexed(db: &Location) -> anyhow::Result<App> {
    App::open_unindexed(db).with_context(|| format!("opening the store {db}"))
}

/// [`open`], for a command that reads escalations: an empty store (one just created, say) is
/// said on standard error, so four zeros are not mistaken for an answer.
fn open_to_read(db: &Location) -> anyhow::Result<App> {
    let app = open(db)?;
    if app.index().is_empty() {
        eprintln!(
            "note: the store {db} has no escalations yet; import some with `escamap --db {db} import FILE`"
        );
    }
    Ok(app)
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Writes `bytes` to `out` (or stdout), replacing the file atomically: a reader never sees half.
fn write_out(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if is_stdio(out) {
        std::io::stdout().lock().write_all(bytes)?;
        return Ok(());
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        out.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("escamap-out")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn import(app: &App, a: &ImportArgs) -> anyhow::Result<ExitCode> {
    let (mut failed, mut all_rejected) = (false, false);
    for path in &a.files {
        // A file is read as it is imported (it may be larger than memory); standard input, which
        // cannot be read twice, is taken in whole first.
        let stdin;
        let (name, input, size) = if is_stdio(path) {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            stdin = buf;
            ("stdin".to_owned(), Input::Bytes(&stdin), stdin.len() as u64)
        } else {
            let size = std::fs::metadata(path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            (path.display().to_string(), Input::File(path), size)
        };
        let bar = progress_bar(size);
        let result = app.import_with(
            &name,
            input,
            app.today(),
            &a.options(),
            &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        );
        bar.finish_and_clear();
        let report = match result {
            Ok(report) => report,
            Err(crate::app::AppError::AllRejected(report)) => {
                all_rejected = true;
                eprintln!(
                    "{}: refused: every row was rejected; nothing was imported",
                    path.display()
                );
                *report
            }
            Err(e) => {
                failed = true;
                eprintln!("{}: refused: {e}", path.display());
                continue;
            }
        };
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print!("{report}");
        }
        if let Some(out) = &a.rejected_out {
            let mut buf = Vec::new();
            report.rejected_csv(&mut buf)?;
            write_out(out, &buf)?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else if all_rejected {
        ExitCode::from(EXIT_ALL_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || len < 4 << 20 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "importing {bar:40} {bytes}/{total_bytes} ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

fn backlog(app: &App, a: &BacklogArgs) -> anyhow::Result<ExitCode> {
    let b = app.backlog(&a.filter.resolve(app)?, a.period)?;
    if a.json {
        println!("{}", serde_json::to_string(&b)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<9} {:>8} {:>8} {:>12} {:>10}",
        "period", "opened", "closed", "open at end", "mttr days"
    );
    for (i, p) in b.periods.iter().enumerate() {
        let mttr = b.mttr_days[i].map_or("-".to_owned(), |d| format!("{d:.2}"));
        println!(
            "{p:<9} {:>8} {:>8} {:>12} {mttr:>10}",
            b.opened[i], b.closed[i], b.open_at_end[i]
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn insights_command(app: &App, a: &InsightsArgs) -> anyhow::Result<ExitCode> {
    let found = app.insights(&a.filter.resolve(app)?, a.period, a.as_of, a.limit)?;
    if a.json {
        println!("{}", serde_json::to_string(&found)?);
        return Ok(ExitCode::SUCCESS);
    }
    match (found.as_of, found.current) {
        (Some(as_of), Some(cur)) => println!(
            "{} {} to {} (as of {as_of}): {} of {} findings, {} slices judged",
            found.period,
            cur.from,
            cur.to,
            found.findings.len(),
            found.total,
            found.slices_tested
        ),
        _ => println!("no escalations selected"),
    }
    for f in &found.findings {
        println!(
            "{:<9} {:>6.1}  {}\n{:<17}{}",
            f.kind.as_str(),
            f.score,
            f.summary,
            "",
            f.drill
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn accounts_command(app: &App, a: &AccountsArgs) -> anyhow::Result<ExitCode> {
    let ranked = app.accounts(&a.filter.resolve(app)?, a.as_of, a.limit)?;
    if a.json {
        println!("{}", serde_json::to_string(&ranked)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(as_of) = ranked.as_of else {
        println!("no escalations selected");
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "as of {as_of}: {} of {} accounts",
        ranked.accounts.len(),
        ranked.total
    );
    println!(
        "{:>5}  {:<5} {:>7} {:>7} {:>6} {:>5} {:>6}  {:<32} main factors",
        "risk", "trend", "last90", "prev90", "high%", "open", "mttr", "client"
    );
    for x in &ranked.accounts {
        let factors: Vec<String> = x
            .factors
            .iter()
            .take(3)
            .map(|f| format!("{} {:.1}", f.name, f.points))
            .collect();
        println!(
            "{:>5.1}  {:<5} {:>7} {:>7} {:>5.0}% {:>5} {:>6}  {:<32} {}",
            x.risk,
            format!("{:?}", x.trend).to_lowercase(),
            x.last_90_days,
            x.previous_90_days,
            x.high_share * 100.0,
            x.open,
            x.mttr_days.map_or("-".to_owned(), |d| format!("{d:.1}")),
            x.client,
            factors.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn stats(app: &App, a: &StatsArgs) -> anyhow::Result<ExitCode> {
    let s = app.stats(&a.filter.resolve(app)?)?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!("Total escalations   {:>10}", s.total_escalations);
        println!("High severity       {:>10}", s.high_severity_count);
        println!("Unique clients      {:>10}", s.unique_clients);
        println!("High severity rate  {:>9.1}%", s.high_severity_rate);
    }
    Ok(ExitCode::SUCCESS)
}

fn render(app: &App, a: &RenderArgs) -> anyhow::Result<ExitCode> {
    let format = match a.format {
        Some(f) => f,
        None => match a
            .out
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => OutFormat::Svg,
            Some("png") => OutFormat::Png,
            Some("csv") => OutFormat::Csv,
            Some("json") => OutFormat::Json,
            _ => bail!(
                "cannot tell the format from {:?}: use .svg, .png, .csv or .json, or --format",
                a.out
            ),
        },
    };
    let drawn = matches!(format, OutFormat::Svg | OutFormat::Png);
    let top = a.top.or(drawn.then_some(DEFAULT_DRAWN_ROWS));
    let filter = a.filter.resolve(app)?;
    let query = match (a.view, a.rows, a.cols) {
        (Some(v), _, _) => HeatmapQuery::view(v, top, filter)?,
        (None, Some(r), Some(c)) => {
            HeatmapQuery::new(r, c, a.measure.unwrap_or(Measure::Count), top, filter)?
        }
        _ => bail!("give --view, or --rows and --cols"),
    };
    let query = query
        .with_normalize(a.normalize)
        .and_then(|q| q.with_compare(a.compare))
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.parameter()))?;
    let map = app.heatmap(&query);
    let bytes = match format {
        OutFormat::Json => serde_json::to_vec_pretty(&map)?,
        OutFormat::Csv => {
            let mut buf = Vec::new();
            heatmap_csv(&map, &mut buf)?;
            buf
        }
        OutFormat::Svg | OutFormat::Png => {
            let opts = SvgOptions {
                title: a.title.clone().unwrap_or_else(|| query.title()),
                subtitle: query.describe(),
                palette: a.palette,
                max_width: a.width.map(f64::from),
                ..SvgOptions::default()
            };
            let svg = heatmap_svg(&map, &opts);
            if format == OutFormat::Png {
                svg_to_png(&svg, a.scale)?
            } else {
                svg.into_bytes()
            }
        }
    };
    write_out(&a.out, &bytes)?;
    Ok(ExitCode::SUCCESS)
}

fn export(app: &App, a: &ExportArgs) -> anyhow::Result<ExitCode> {
    let filter = a.filter.resolve(app)?;
    let mut buf = Vec::new();
    let n = app.export_csv(&filter, &mut buf)?;
    write_out(&a.out, &buf)?;
    if !is_stdio(&a.out) {
        eprintln!("exported {n} escalations to {}", a.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn imports(app: &App, action: ImportsAction) -> anyhow::Result<ExitCode> {
    match action {
        ImportsAction::List { json } => {
            let list = app.imports()?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no imports yet");
            } else {
                println!(
                    "{:>5}  {:<20}  {:>9}  {:>9}  {:>9}  {:>9}  source",
                    "id", "imported at (UTC)", "imported", "replaced", "rejected", "current"
                );
                for i in list {
                    println!(
                        "{:>5}  {:<20}  {:>9}  {:>9}  {:>9}  {:>9}  {}",
                        i.id,
                        i.imported_at.format("%Y-%m-%d %H:%M:%S"),
                        i.rows_imported,
                        i.rows_replaced,
                        i.rows_rejected,
                        i.rows_current,
                        i.source
                    );
                }
            }
        }
        ImportsAction::Delete { id } => match app.delete_import(id) {
            Ok(n) => println!("deleted import {id} and its {n} escalations"),
            Err(crate::app::AppError::Store(crate::store::StoreError::NotFound)) => {
                bail!("there is no import {id}")
            }
            Err(e) => return Err(e.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// A saved view's query (none: the whole dashboard's) with a command's filters added.
fn view_query(
    app: &App,
    view: Option<&str>,
    filter: &SliceArgs,
) -> anyhow::Result<(Option<crate::store::SavedView>, String)> {
    let view = match view {
        Some(name) => Some(app.view(name, crate::app::Viewer::Anyone)?),
        None => None,
    };
    let extra = filter.resolve(app)?;
    let mut query = view.as_ref().map(|v| v.query.clone()).unwrap_or_default();
    let more = extra.query_string();
    if !more.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&more);
    }
    Ok((view, query))
}

/// The digest a command asks for: its view's query with the command's filters added.
fn compose_digest(app: &App, a: &DigestArgs) -> anyhow::Result<crate::app::DigestOut> {
    let (view, query) = view_query(app, a.view.as_deref(), &a.filter)?;
    Ok(app.digest(&crate::app::DigestRequest {
        view: view.as_ref().map(|v| v.name.as_str()),
        query: &query,
        as_of: a.as_of,
        every: a.every,
        public_url: &a.links.public_url,
        why: None,
        unsubscribe_url: None,
    })?)
}

fn digest(app: &App, action: DigestAction) -> anyhow::Result<ExitCode> {
    match action {
        DigestAction::Preview {
            digest,
            out,
            mail_from,
            to,
        } => {
            let d = compose_digest(app, &digest)?;
            let ext = out
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            let bytes = match ext.as_deref() {
                Some("html" | "htm") => crate::mail::digest_file(&d.digest, &d.png).into_bytes(),
                Some("eml") => {
                    let to = if to.is_empty() {
                        vec!["reader@localhost".to_owned()]
                    } else {
                        to
                    };
                    crate::mail::digest_message(
                        &d.digest,
                        &d.png,
                        &crate::mail::Envelope {
                            from: &mail_from,
                            to: &to,
                            message_id: None,
                            unsubscribe_url: None,
                        },
                    )?
                    .formatted()
                }
                _ => bail!("--out: give a .html or .eml file"),
            };
            write_out(&out, &bytes)?;
            eprintln!(
                "wrote the digest {} ({}) to {}",
                d.digest.title,
                d.digest.period_text,
                out.display()
            );
        }
        DigestAction::Send { digest, to, smtp } => {
            let (smtp_url, mail_from) = (smtp.smtp_url, smtp.mail_from);
            let mailer = crate::mail::Mailer::from_url(&smtp_url)?;
            let d = compose_digest(app, &digest)?;
            let m = crate::mail::digest_message(
                &d.digest,
                &d.png,
                &crate::mail::Envelope {
                    from: &mail_from,
                    to: &to,
                    message_id: None,
                    unsubscribe_url: None,
                },
            )?;
            mailer.send(&m)?;
            println!(
                "sent the digest {} to {} through {mailer}",
                d.digest.title,
                to.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn subscriptions(app: &App, action: SubscriptionsAction) -> anyhow::Result<ExitCode> {
    match action {
        SubscriptionsAction::Add {
            user,
            schedule,
            tz,
            view,
            target,
        } => {
            let to = crate::app::target(target.email.as_deref(), target.webhook.as_deref())?;
            let (s, secret) = app.add_subscription(&user, &schedule, &tz, view.as_deref(), to)?;
            println!(
                "subscription {}: {} gets {} {} ({}) at {}",
                s.id,
                s.user,
                s.view.as_deref().unwrap_or("the dashboard"),
                s.schedule,
                s.tz,
                s.target
            );
            show_secret(secret);
        }
        SubscriptionsAction::List { json } => {
            let all = app.subscriptions()?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else if all.is_empty() {
                println!("no subscriptions yet (subscriptions add … keeps one)");
            } else {
                for s in all {
                    let next = crate::domain::Schedule::parse(&s.schedule, &s.tz)
                        .ok()
                        .and_then(|x| x.next_slot(chrono::Utc::now()))
                        .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339());
                    println!(
                        "{:<4} {:<16} {:<20} {:<22} {:<16} {}  next {next}",
                        s.id,
                        s.user,
                        s.view.as_deref().unwrap_or("(dashboard)"),
                        s.schedule,
                        s.tz,
                        s.target
                    );
                }
            }
        }
        SubscriptionsAction::Remove { id } => {
            app.remove_subscription(id)?;
            println!("removed subscription {id}");
        }
        SubscriptionsAction::RunDue {
            now,
            outbound,
            json,
        } => {
            let mailer = outbound.mailer()?;
            let report = app.run_due(
                now.unwrap_or_else(chrono::Utc::now),
                &crate::app::Outbound {
                    mailer: mailer.as_ref(),
                    from: &outbound.mail_from,
                    public_url: &outbound.links.public_url,
                },
            )?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for s in &report.sent {
                    println!(
                        "sent subscription {} for {} ({})",
                        s.subscription, s.slot, s.message_id
                    );
                }
                for f in &report.failed {
                    println!(
                        "failed subscription {} for {} (attempt {}): {}; retry from {}",
                        f.subscription, f.slot, f.attempt, f.error, f.retry_at
                    );
                }
                println!(
                    "{} sent, {} failed, {} not due",
                    report.sent.len(),
                    report.failed.len(),
                    report.not_due
                );
            }
            if !report.failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn alerts(app: &App, action: AlertsAction) -> anyhow::Result<ExitCode> {
    match action {
        AlertsAction::Add {
            user,
            kinds,
            view,
            filter,
            min_score,
            target,
        } => {
            let (_, query) = view_query(app, view.as_deref(), &filter)?;
            let to = crate::app::target(target.email.as_deref(), target.webhook.as_deref())?;
            let (a, secret) = app.add_alert(&user, &kinds, &query, min_score, to)?;
            println!(
                "alert {}: {} hears of {} at {}",
                a.id,
                a.user,
                crate::app::describe_alert(&a),
                a.target
            );
            show_secret(secret);
        }
        AlertsAction::List { json } => {
            let all = app.alerts()?;
            if json {
                let mut out = Vec::new();
                for a in &all {
                    let messages = app.alert_messages(a.id)?;
                    let mut v = serde_json::to_value(a)?;
                    v["messages"] = serde_json::to_value(&messages)?;
                    out.push(v);
                }
                println!("{}", serde_json::to_string(&out)?);
            } else if all.is_empty() {
                println!("no alerts yet (alerts add … keeps one)");
            } else {
                for a in all {
                    let messages = app.alert_messages(a.id)?;
                    let sent = messages.iter().filter(|m| m.state == "sent").count();
                    println!(
                        "{:<4} {:<16} {}  to {}  ({sent} sent, {} waiting)",
                        a.id,
                        a.user,
                        crate::app::describe_alert(&a),
                        a.target,
                        messages.len() - sent
                    );
                }
            }
        }
        AlertsAction::Remove { id } => {
            app.remove_alert(id)?;
            println!("removed alert {id}");
        }
        AlertsAction::Run {
            now,
            outbound,
            json,
        } => {
            let now = now.unwrap_or_else(chrono::Utc::now);
            let mailer = outbound.mailer()?;
            let mut report = app.check_alerts(&outbound.links.public_url, now)?;
            app.send_alerts(
                &crate::app::Outbound {
                    mailer: mailer.as_ref(),
                    from: &outbound.mail_from,
                    public_url: &outbound.links.public_url,
                },
                now,
                &mut report,
            )?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for (alert, _, n) in &report.queued {
                    println!("alert {alert}: {n} new findings");
                }
                for (m, e) in &report.failed {
                    println!("failed message {m}: {e}");
                }
                println!(
                    "{} queued, {} sent, {} failed",
                    report.queued.len(),
                    report.sent.len(),
                    report.failed.len()
                );
            }
            if !report.failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn views(app: &App, action: ViewsAction) -> anyhow::Result<ExitCode> {
    use crate::app::Viewer;
    match action {
        ViewsAction::List { json } => {
            let all = app.views(Viewer::Anyone)?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else if all.is_empty() {
                println!("no saved views yet (views save NAME --query '...' keeps one)");
            } else {
                for v in all {
                    println!(
                        "{:<24} {:<10} {}",
                        v.name,
                        if v.shared {
                            "shared".to_owned()
                        } else {
                            format!("for {}", v.owner.as_deref().unwrap_or("?"))
                        },
                        v.query
                    );
                }
            }
        }
        ViewsAction::Save { name, query, user } => {
            let query = crate::query::dashboard_query(&query)
                .map_err(|e| anyhow::anyhow!("--query: {e}"))?;
            if let Some(u) = &user
                && !app.users()?.iter().any(|x| &x.name == u)
            {
                bail!("there is no user {u:?}");
            }
            let who = Viewer::of(user.as_deref(), true);
            let v = app.save_view(&name, &query, user.is_none(), who)?;
            println!(
                "saved the view {} ({}): /?{}",
                v.name,
                if v.shared { "shared" } else { "private" },
                v.query
            );
        }
        ViewsAction::Delete { name } => {
            app.delete_view(&name, Viewer::Anyone)?;
            println!("deleted the view {}", name.trim());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn profiles(app: &App, action: ProfilesAction) -> anyhow::Result<ExitCode> {
    match action {
        ProfilesAction::List { json } => {
            let all = app.profiles()?;
            if json {
                let list: Vec<serde_json::Value> = all
                    .iter()
                    .map(|(p, m)| {
                        serde_json::json!({"name": p.name, "created_at": p.created_at, "mapping": m})
                    })
                    .collect();
                println!("{}", serde_json::to_string(&list)?);
            } else if all.is_empty() {
                println!("no source profiles yet (import --save-profile NAME keeps one)");
            } else {
                for (p, m) in all {
                    let cols: Vec<String> =
                        m.columns.iter().map(|(f, c)| format!("{f}={c}")).collect();
                    println!(
                        "{:<24} saved {}  {}",
                        p.name,
                        p.created_at.format("%Y-%m-%d %H:%M"),
                        cols.join(", ")
                    );
                }
            }
        }
        ProfilesAction::Show { name } => match app.profile(&name)? {
            Some((name, m)) => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"name": name, "mapping": m}))?
            ),
            None => bail!("there is no source profile {name:?}"),
        },
        ProfilesAction::Delete { name } => match app.delete_profile(&name) {
            Ok(()) => println!("deleted the source profile {name}"),
            Err(crate::app::AppError::Store(crate::store::StoreError::NotFound)) => {
                bail!("there is no source profile {name:?}")
            }
            Err(e) => return Err(e.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// A password from a hidden prompt on a terminal, else the first line of standard input.
fn read_password(prompt: &str) -> anyhow::Result<Password> {
    let raw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    };
    Ok(Password::new(&raw)?)
}

/// A security event from the command line: the actor is whoever runs it on this machine.
fn audit(event: &'static str, target: &str) {
    tracing::info!(target: "security", event, actor = "(command line)", target, "security event");
}

fn user(app: &App, action: UserAction) -> anyhow::Result<ExitCode> {
    use crate::app::AppError;
    use crate::store::StoreError;
    let missing = |name: &str| anyhow::anyhow!("there is no account {name:?}");
    match action {
        UserAction::Add { name, role } => {
            let password = read_password(&format!("password for {name}: "))?;
            let u = app.add_user(&name, role, &password)?;
            audit("user_added", &u.name);
            println!("created {} ({})", u.name, u.role);
        }
        UserAction::List { json } => {
            let users = app.users()?;
            if json {
                println!("{}", serde_json::to_string(&users)?);
            } else if users.is_empty() {
                println!("no accounts: the server runs open on loopback addresses only");
            } else {
                for u in users {
                    println!(
                        "{:<24} {:<7} created {}",
                        u.name,
                        u.role,
                        u.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
        }
        UserAction::Remove { name } => match app.remove_user(&name) {
            Ok(()) => {
                audit("user_removed", &name);
                println!("removed {name}");
            }
            Err(AppError::Store(StoreError::NotFound)) => return Err(missing(&name)),
            Err(e) => return Err(e.into()),
        },
        UserAction::SetPassword { name } => {
            let password = read_password(&format!("new password for {name}: "))?;
            match app.set_password(&name, &password) {
                Ok(()) => {
                    audit("password_changed", &name);
                    println!("password changed for {name}; their sessions were ended");
                }
                Err(AppError::Store(StoreError::NotFound)) => return Err(missing(&name)),
                Err(e) => return Err(e.into()),
            }
        }
        UserAction::Token { name, label } => match app.create_token(&name, &label) {
            Ok((record, raw)) => {
                audit("token_created", &name);
                eprintln!(
                    "API token #{} for {name} ({label}); shown once, keep it safe:",
                    record.id
                );
                println!("{raw}");
            }
            Err(AppError::Store(StoreError::NotFound)) => return Err(missing(&name)),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn demo_data(a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let end = a.end.unwrap_or_else(crate::domain::local_today);
    if let Some(key_path) = &a.plant {
        let spec = PlantSpec {
            rows: a.rows,
            seed: a.seed,
            end,
            events: a.events,
        };
        let mut buf = Vec::new();
        let key = generate_planted(&spec, &mut buf)?;
        write_out(&a.out, &buf)?;
        let mut json = serde_json::to_vec_pretty(&key)?;
        json.push(b'\n');
        write_out(key_path, &json)?;
        eprintln!(
            "wrote {} escalations over the 24 months to {} to {}, and {} planted events to {}",
            key.rows,
            key.as_of,
            a.out.display(),
            key.events.len(),
            key_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let spec = DemoSpec {
        rows: a.rows,
        seed: a.seed,
        end,
        months: a.months.max(1),
    };
    let mut buf = Vec::new();
    let rows = generate(&spec, &mut buf)?;
    write_out(&a.out, &buf)?;
    eprintln!(
        "wrote {rows} escalations opened over the {} months to {} to {}",
        spec.months,
        spec.end,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Every command and every argument of every command says what it is for.
    #[test]
    fn every_help_line_says_something() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd
                .get_about()
                .is_none_or(|a| a.to_string().trim().is_empty())
                && !path.is_empty()
            {
                missing.push(here.clone());
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{here} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
