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
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// `N/second|minute|hour|day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}: expected N/second, N/minute, N/hour or N/day with N at least 1")]
pub struct InvalidRate(pub String);

impl FromStr for Rate {
    type Err = InvalidRate;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidRate(s.chars().take(40).collect());
        let (n, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(err)?;
        let per = match unit.trim().to_ascii_lowercase().trim_end_matches('s') {
            "second" | "sec" => 1,
            "minute" | "min" => 60,
            "hour" => 3_600,
            "day" => 86_400,
            _ => return Err(err()),
        };
        Ok(Self {
            count,
            per: Duration::from_secs(per),
        })
    }
}

/// Which limits apply, by kind of route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub enabled: bool,
    pub anonymous_day: Rate,
    pub anonymous_hour: Rate,
    pub anonymous_dashboard: Rate,
    pub anonymous_data: Rate,
    pub pages: Rate,
    pub api: Rate,
    pub login: Rate,
    pub import: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        let r = |count, secs| Rate {
            count,
            per: Duration::from_secs(secs),
        };
        Self {
            enabled: true,
            anonymous_day: r(200, 86_400),
            anonymous_hour: r(50, 3_600),
            anonymous_dashboard: r(10, 60),
            anonymous_data: r(5, 60),
            pages: r(300, 60),
            api: r(1_200, 60),
            login: r(10, 60),
            import: r(30, 60),
        }
    }
}

impl RateLimits {
    /// Applies `KIND=RATE` (kinds: anonymous-day, anonymous-hour, anonymous-dashboard,
    /// anonymous-data, pages, api, login, import).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (kind, rate) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=RATE, got {spec:?}"))?;
        let rate: Rate = rate.parse().map_err(|e: InvalidRate| e.to_string())?;
        let slot = match kind.trim() {
            "anonymous-day" => &mut self.anonymous_day,
            "anonymous-hour" => &mut self.anonymous_hour,
            "anonymous-dashboard" => &mut self.anonymous_dashboard,
            "anonymous-data" => &mut self.anonymous_data,
            "pages" => &mut self.pages,
            "api" => &mut self.api,
            "login" => &mut self.login,
            "import" => &mut self.import,
            other => return Err(format!("unknown rate-limit kind {other:?}")),
        };
        *slot = rate;
        Ok(())
    }
}

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
    fn rates_parse() {
        assert_eq!(
            "10/minute".parse(),
            Ok(Rate {
                count: 10,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(
            "200/day".parse::<Rate>().map(|r| r.per),
            Ok(Duration::from_secs(86_400))
        );
        assert_eq!("5/sec".parse::<Rate>().map(|r| r.count), Ok(5));
        for bad in ["0/minute", "ten/minute", "10/fortnight", "10"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        let mut r = RateLimits::default();
        r.set("login=3/minute").expect("valid");
        assert_eq!(r.login.count, 3);
        assert!(r.set("everything=1/day").is_err());
    }

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
