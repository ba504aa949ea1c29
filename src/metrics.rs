//! What the service counts, for Prometheus: one [`Metrics`] per application, with its own
//! registry (no process-wide state, so two servers in one test process count apart), rendered in
//! the Prometheus text exposition format (version 0.0.4) by [`Metrics::render`].
//!
//! Every label value is a fixed word (a route template, a method, a status code, an outcome, a
//! kind): never a client's name, a user, an address or a path with ids in it. Names follow the
//! Prometheus conventions: `escamap_` first, `_total` on counters, base units (`_seconds`,
//! `_bytes`).
//!
//! Who records what: `web` the requests (by the route template the router matched, so
//! `/escalations/{id}` and never an id), the refusals and the open connections; `app` the
//! imports, the index and the deliveries, for whichever process runs them (the command line's
//! counts die with it; only `serve --metrics-addr` exposes them).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets for requests, in seconds: 1 ms to 30 s.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets for an index update, in seconds: an apply takes milliseconds, a rebuild of ten
/// million rows tens of seconds.
const INDEX_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Import durations, in seconds.
const IMPORT_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Committed (some rows may have been rejected).
    Committed,
    /// Refused for its content: unreadable, every row rejected, too many rows, a mapping needed.
    /// Nothing was written.
    Refused,
    /// The store failed: nothing was written.
    Failed,
}

impl ImportOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Committed => "committed",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// The service's metrics. Cheap to share: every handle is reference-counted inside.
pub struct Metrics {
    registry: Registry,
    /// `route`, `method`, `status`.
    pub http_requests: IntCounterVec,
    /// `route`, `method`.
    pub http_request_duration: HistogramVec,
    /// Connections open on the public listener now.
    pub open_connections: IntGauge,
    /// Connections closed at once because their address held its share (`--max-connections-per-ip`).
    pub connections_refused: IntCounter,
    /// Requests refused by a rate limit, by the limit's `kind`.
    pub rate_limited: IntCounterVec,
    /// Changes refused for a missing or wrong CSRF token, or sent from another site.
    pub csrf_refused: IntCounter,
    /// Store failures met while answering or in the background, by `kind`.
    pub store_errors: IntCounterVec,
    imports: IntCounterVec,
    import_rows: IntCounterVec,
    import_duration: Histogram,
    index_rows: IntGauge,
    index_generation: IntGauge,
    index_update: HistogramVec,
    digests: IntCounterVec,
    alerts: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` and returns it. Names and labels are constants of this module, so a
/// failure is a programming error caught by its unit test.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique and valid");
    metric
}

/// The options are this module's constants: a failure is caught by the unit test below.
fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"),
    )
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> HistogramVec {
    register(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .expect("valid histogram"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help).expect("valid gauge"))
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).expect("valid counter"),
    )
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let build = register(
            &r,
            IntCounterVec::new(
                Opts::new("escamap_build_info", "The running version (always 1)."),
                &["version"],
            )
            .expect("valid"),
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).inc();
        #[cfg(target_os = "linux")]
        {
            // Resident memory, CPU seconds, open files, start time: the standard process_*.
            let _ = r.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        let http_requests = counter_vec(
            &r,
            "escamap_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            &["route", "method", "status"],
        );
        let http_request_duration = histogram_vec(
            &r,
            "escamap_http_request_duration_seconds",
            "Time from a request's head to its answer's head, by route template and method.",
            REQUEST_BUCKETS,
            &["route", "method"],
        );
        let open_connections = gauge(
            &r,
            "escamap_open_connections",
            "Connections open on the public listener.",
        );
        let connections_refused = counter(
            &r,
            "escamap_connections_refused_total",
            "Connections closed at once because their address held its share of connections.",
        );
        let rate_limited = counter_vec(
            &r,
            "escamap_rate_limited_total",
            "Requests refused by a rate limit (429), by the limit's kind.",
            &["kind"],
        );
        let csrf_refused = counter(
            &r,
            "escamap_csrf_refused_total",
            "Changes refused for a missing or wrong CSRF token, or sent from another site (403).",
        );
        let store_errors = counter_vec(
            &r,
            "escamap_store_errors_total",
            "Store failures, by kind: unavailable (no connection) or other.",
            &["kind"],
        );
        let imports = counter_vec(
            &r,
            "escamap_imports_total",
            "Imports, by outcome: committed, refused (for their content; nothing written) or failed (the store failed).",
            &["outcome"],
        );
        let import_rows = counter_vec(
            &r,
            "escamap_import_rows_total",
            "Rows of committed imports: imported (rows written, replacements included), replaced (of those, ids already held) and rejected.",
            &["result"],
        );
        let import_duration = register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "escamap_import_duration_seconds",
                    "Time a committed import took, reading the file to the index updated.",
                )
                .buckets(IMPORT_BUCKETS.to_vec()),
            )
            .expect("valid histogram"),
        );
        let index_rows = gauge(
            &r,
            "escamap_index_rows",
            "Escalations in the in-memory index.",
        );
        let index_generation = gauge(
            &r,
            "escamap_index_generation",
            "The store's change count the index holds.",
        );
        let index_update = histogram_vec(
            &r,
            "escamap_index_update_duration_seconds",
            "Time to bring the index up to date, by kind: apply (a change applied) or rebuild (the whole store read).",
            INDEX_BUCKETS,
            &["kind"],
        );
        let digests = counter_vec(
            &r,
            "escamap_digests_total",
            "Digest deliveries (mail or webhook), by outcome: sent or failed (retried later).",
            &["outcome"],
        );
        let alerts = counter_vec(
            &r,
            "escamap_alerts_total",
            "Alert deliveries (mail or webhook), by outcome: sent or failed (retried later).",
            &["outcome"],
        );
        // Every labelled series starts at zero, so a dashboard's rate() sees the first event.
        for o in [
            ImportOutcome::Committed,
            ImportOutcome::Refused,
            ImportOutcome::Failed,
        ] {
            imports.with_label_values(&[o.label()]);
        }
        for r in ["imported", "replaced", "rejected"] {
            import_rows.with_label_values(&[r]);
        }
        for k in ["apply", "rebuild"] {
            index_update.with_label_values(&[k]);
        }
        for o in ["sent", "failed"] {
            digests.with_label_values(&[o]);
            alerts.with_label_values(&[o]);
        }
        // The store's words for its failures (`StoreError::UNAVAILABLE`, `OTHER`): this module
        // names nothing of the crate's.
        for k in ["unavailable", "other"] {
            store_errors.with_label_values(&[k]);
        }
        Self {
            registry: r,
            http_requests,
            http_request_duration,
            open_connections,
            connections_refused,
            rate_limited,
            csrf_refused,
            store_errors,
            imports,
            import_rows,
            import_duration,
            index_rows,
            index_generation,
            index_update,
            digests,
            alerts,
        }
    }

    /// Every metric, in the Prometheus text exposition format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory fails only for a metric family without samples' type, which
        // this registry never holds; an empty answer is then the honest one.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            out.clear();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// One import ended; with its row counts when it committed.
    pub fn import(&self, outcome: ImportOutcome, rows: Option<(u64, u64, u64)>, seconds: f64) {
        self.imports.with_label_values(&[outcome.label()]).inc();
        if let Some((imported, replaced, rejected)) = rows {
            for (result, n) in [
                ("imported", imported),
                ("replaced", replaced),
                ("rejected", rejected),
            ] {
                self.import_rows.with_label_values(&[result]).inc_by(n);
            }
            self.import_duration.observe(seconds);
        }
    }

    /// The index now holds `rows` rows at `generation`; `rebuilt` when the whole store was read
    /// (`None` when nothing needed doing).
    pub fn index(&self, rows: usize, generation: u64, update: Option<(bool, f64)>) {
        self.index_rows.set(i64::try_from(rows).unwrap_or(i64::MAX));
        self.index_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        if let Some((rebuilt, seconds)) = update {
            let kind = if rebuilt { "rebuild" } else { "apply" };
            self.index_update
                .with_label_values(&[kind])
                .observe(seconds);
        }
    }

    /// A store failure of `kind` (`unavailable` or `other`).
    pub fn store_error(&self, kind: &str) {
        self.store_errors.with_label_values(&[kind]).inc();
    }

    /// Deliveries of digests (`digest`) or alerts: how many were sent and how many failed.
    pub fn delivered(&self, digest: bool, sent: usize, failed: usize) {
        let family = if digest { &self.digests } else { &self.alerts };
        family.with_label_values(&["sent"]).inc_by(sent as u64);
        family.with_label_values(&["failed"]).inc_by(failed as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_renders_with_its_type_and_help() {
        let m = Metrics::new();
        m.import(ImportOutcome::Committed, Some((3, 1, 2)), 0.2);
        m.index(4, 7, Some((false, 0.004)));
        m.delivered(true, 1, 0);
        m.rate_limited.with_label_values(&["login"]).inc();
        m.http_requests
            .with_label_values(&["/", "GET", "200"])
            .inc();
        m.http_request_duration
            .with_label_values(&["/", "GET"])
            .observe(0.003);
        let text = m.render();
        for (name, kind) in [
            ("escamap_http_requests_total", "counter"),
            ("escamap_http_request_duration_seconds", "histogram"),
            ("escamap_imports_total", "counter"),
            ("escamap_import_rows_total", "counter"),
            ("escamap_index_rows", "gauge"),
            ("escamap_index_generation", "gauge"),
            ("escamap_index_update_duration_seconds", "histogram"),
            ("escamap_store_errors_total", "counter"),
            ("escamap_rate_limited_total", "counter"),
            ("escamap_csrf_refused_total", "counter"),
            ("escamap_open_connections", "gauge"),
            ("escamap_digests_total", "counter"),
            ("escamap_alerts_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} {kind} missing:\n{text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name} help");
        }
        assert!(text.contains("escamap_import_rows_total{result=\"imported\"} 3\n"));
        assert!(text.contains("escamap_import_rows_total{result=\"replaced\"} 1\n"));
        assert!(text.contains("escamap_imports_total{outcome=\"refused\"} 0\n"));
        assert!(text.contains("escamap_index_rows 4\n"));
        assert!(text.contains("escamap_index_generation 7\n"));
        assert!(text.contains(
            "escamap_index_update_duration_seconds_bucket{kind=\"apply\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains("escamap_digests_total{outcome=\"sent\"} 1\n"));
    }

    #[test]
    fn two_instances_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.csrf_refused.inc();
        assert!(a.render().contains("escamap_csrf_refused_total 1\n"));
        assert!(b.render().contains("escamap_csrf_refused_total 0\n"));
    }
}
