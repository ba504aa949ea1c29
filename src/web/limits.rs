//! Rate limits per client address, by kind of route and by whether the caller is signed in.
//!
//! Defaults keep the original's spirit for anonymous clients (200 a day and 50 an hour, 10 a
//! minute on the dashboard, 5 a minute on the data page) while a signed-in user (or the local
//! user of an open loopback server) can click through an interactive dashboard, where every filter
//! is a page load: 300 pages and 1,200 API calls a minute. Logins are limited to 10 a minute per
//! address (on top of the per-account throttle) and imports to 30 a minute. Assets and health
//! checks are never counted.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub use crate::config::{InvalidRate, Rate, RateLimits};

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Page,
    Dashboard,
    Data,
    Api,
    Login,
    Import,
}

impl Kind {
    /// The kind's name, as a metric's label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Page => "pages",
            Self::Dashboard => "dashboard",
            Self::Data => "data",
            Self::Api => "api",
            Self::Login => "login",
            Self::Import => "import",
        }
    }
}

fn limiter(rate: Rate) -> DefaultKeyedRateLimiter<IpAddr> {
    let count = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(rate.per / rate.count.max(1))
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count);
    RateLimiter::keyed(quota)
}

pub struct Limiters {
    enabled: bool,
    anonymous_day: DefaultKeyedRateLimiter<IpAddr>,
    anonymous_hour: DefaultKeyedRateLimiter<IpAddr>,
    anonymous_dashboard: DefaultKeyedRateLimiter<IpAddr>,
    anonymous_data: DefaultKeyedRateLimiter<IpAddr>,
    pages: DefaultKeyedRateLimiter<IpAddr>,
    api: DefaultKeyedRateLimiter<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    import: DefaultKeyedRateLimiter<IpAddr>,
}

impl Limiters {
    pub fn new(c: &RateLimits) -> Self {
        Self {
            enabled: c.enabled,
            anonymous_day: limiter(c.anonymous_day),
            anonymous_hour: limiter(c.anonymous_hour),
            anonymous_dashboard: limiter(c.anonymous_dashboard),
            anonymous_data: limiter(c.anonymous_data),
            pages: limiter(c.pages),
            api: limiter(c.api),
            login: limiter(c.login),
            import: limiter(c.import),
        }
    }

    /// `Err(seconds to wait)` when `ip` is over a limit for this kind of request.
    pub fn check(&self, ip: IpAddr, kind: Kind, signed_in: bool) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let mut applicable: Vec<&DefaultKeyedRateLimiter<IpAddr>> = Vec::with_capacity(3);
        match kind {
            Kind::Login => applicable.push(&self.login),
            Kind::Import => applicable.push(&self.import),
            _ => {}
        }
        if signed_in {
            applicable.push(if kind == Kind::Api {
                &self.api
            } else {
                &self.pages
            });
        } else {
            applicable.push(&self.anonymous_day);
            applicable.push(&self.anonymous_hour);
            match kind {
                Kind::Dashboard => applicable.push(&self.anonymous_dashboard),
                Kind::Data => applicable.push(&self.anonymous_data),
                _ => {}
            }
        }
        let clock = DefaultClock::default();
        for l in applicable {
            if let Err(not_until) = l.check_key(&ip) {
                return Err(not_until.wait_time_from(clock.now()).as_secs().max(1));
            }
        }
        Ok(())
    }

    /// Forgets addresses whose limits have fully refilled (called periodically).
    pub fn shrink(&self) {
        for l in [
            &self.anonymous_day,
            &self.anonymous_hour,
            &self.anonymous_dashboard,
            &self.anonymous_data,
            &self.pages,
            &self.api,
            &self.login,
            &self.import,
        ] {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_clients_get_the_originals_limits() {
        let l = Limiters::new(&RateLimits::default());
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..5 {
            assert!(l.check(ip, Kind::Data, false).is_ok());
        }
        let wait = l
            .check(ip, Kind::Data, false)
            .expect_err("the sixth data page in a minute");
        assert!((1..=60).contains(&wait), "{wait}");
        // Another address is not affected, and a signed-in user has room to click around.
        assert!(l.check([10, 0, 0, 2].into(), Kind::Data, false).is_ok());
        for _ in 0..100 {
            assert!(l.check([10, 0, 0, 3].into(), Kind::Dashboard, true).is_ok());
        }
        let off = Limiters::new(&RateLimits {
            enabled: false,
            ..RateLimits::default()
        });
        for _ in 0..1000 {
            assert!(off.check(ip, Kind::Login, false).is_ok());
        }
    }
}
