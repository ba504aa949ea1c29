//! How often something is sent, and the period each sending is about: a cadence ([`Every`]),
//! and a schedule in a time zone ([`Schedule`]: `daily 08:00`, `weekly mon 08:00`,
//! `monthly 1 08:00`) whose slots are instants in UTC.
//!
//! A slot is the scheduled local time on its day in the schedule's zone. On a day when that time
//! does not exist (a spring-forward gap) the slot is the first instant after the gap; when it
//! exists twice (an autumn fall-back) it is the first of the two. So every day has exactly one
//! slot, never none and never two.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A digest's cadence: the period it covers ends on the day before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cadence {0:?}: expected daily, weekly or monthly")]
pub struct InvalidEvery(pub String);

impl std::str::FromStr for Every {
    type Err = InvalidEvery;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "daily" | "day" => Ok(Self::Daily),
            "weekly" | "week" => Ok(Self::Weekly),
            "monthly" | "month" => Ok(Self::Monthly),
            _ => Err(InvalidEvery(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Every {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        })
    }
}

impl Every {
    /// The period a digest ending on `last` covers: that day; the seven days to it; or its month
    /// up to it (a monthly digest sent on the 1st is about the whole month before).
    pub fn period_ending(self, last: NaiveDate) -> (NaiveDate, NaiveDate) {
        let from = match self {
            Self::Daily => last,
            Self::Weekly => last.checked_sub_days(Days::new(6)).unwrap_or(last),
            Self::Monthly => last.with_day(1).unwrap_or(last),
        };
        (from, last)
    }
}

/// When a subscription is due, in its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: Every,
    /// For `weekly`.
    pub weekday: Option<Weekday>,
    /// For `monthly`: 1 to 28, so that every month has it.
    pub day: Option<u32>,
    pub time: NaiveTime,
    pub tz: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchedule {
    #[error("schedule {0:?}: expected 'daily HH:MM', 'weekly mon HH:MM' or 'monthly D HH:MM'")]
    Shape(String),
    #[error("schedule {0:?}: {1}")]
    Part(String, String),
    #[error("unknown time zone {0:?}: give an IANA name such as Europe/Berlin or UTC")]
    Zone(String),
}

impl Schedule {
    /// `daily 08:00`, `weekly mon 08:00`, `monthly 1 08:00`, in the IANA zone `tz`.
    pub fn parse(text: &str, tz: &str) -> Result<Self, InvalidSchedule> {
        let tz: Tz = tz
            .trim()
            .parse()
            .map_err(|_| InvalidSchedule::Zone(tz.trim().to_owned()))?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let shape = || InvalidSchedule::Shape(text.trim().to_owned());
        let part = |m: &str| InvalidSchedule::Part(text.trim().to_owned(), m.to_owned());
        let time = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| part("the time is HH:MM, 00:00 to 23:59"))
        };
        let (every, weekday, day, t) = match words.as_slice() {
            [e, t] if e.eq_ignore_ascii_case("daily") => (Every::Daily, None, None, time(t)?),
            [e, w, t] if e.eq_ignore_ascii_case("weekly") => {
                let w: Weekday = w.parse().map_err(|_| part("the day is mon, tue, … sun"))?;
                (Every::Weekly, Some(w), None, time(t)?)
            }
            [e, d, t] if e.eq_ignore_ascii_case("monthly") => {
                let d: u32 = d
                    .parse()
                    .ok()
                    .filter(|d| (1..=28).contains(d))
                    .ok_or_else(|| part("the day of the month is 1 to 28"))?;
                (Every::Monthly, None, Some(d), time(t)?)
            }
            _ => return Err(shape()),
        };
        Ok(Self {
            every,
            weekday,
            day,
            time: t,
            tz,
        })
    }

    /// The schedule as it is written: `weekly mon 08:00`.
    pub fn text(&self) -> String {
        let t = self.time.format("%H:%M");
        match (self.every, self.weekday, self.day) {
            (Every::Weekly, Some(w), _) => format!("weekly {} {t}", w.to_string().to_lowercase()),
            (Every::Monthly, _, Some(d)) => format!("monthly {d} {t}"),
            _ => format!("daily {t}"),
        }
    }

    /// Whether `date` is one of the schedule's days.
    fn on(&self, date: NaiveDate) -> bool {
        match self.every {
            Every::Daily => true,
            Every::Weekly => Some(date.weekday()) == self.weekday,
            Every::Monthly => Some(date.day()) == self.day,
        }
    }

    /// The slot on `date` (local): the scheduled time, or the first instant after a gap.
    fn slot_on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let local = date.and_time(self.time);
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                // A gap: step a minute at a time to its end (gaps are at most a few hours).
                (1..=24 * 60)
                    .find_map(|m| {
                        let later = local + chrono::Duration::minutes(m);
                        self.tz.from_local_datetime(&later).earliest()
                    })
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }

    /// The latest slot at or before `now`.
    pub fn last_slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&self.tz).date_naive();
        (0..=62)
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .filter(|d| self.on(*d))
            .filter_map(|d| self.slot_on(d))
            .find(|slot| *slot <= now)
    }

    /// The first slot after `now`.
    pub fn next_slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&self.tz).date_naive();
        (0..=62)
            .filter_map(|ahead| today.checked_add_days(Days::new(ahead)))
            .filter(|d| self.on(*d))
            .filter_map(|d| self.slot_on(d))
            .find(|slot| *slot > now)
    }

    /// The last day a digest sent at `slot` is about: the local day before it.
    pub fn period_last_day(&self, slot: DateTime<Utc>) -> NaiveDate {
        let local = slot.with_timezone(&self.tz).date_naive();
        local.pred_opt().unwrap_or(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn schedules_parse_and_say_themselves() {
        for (text, tz) in [
            ("daily 08:00", "UTC"),
            ("weekly mon 08:00", "Europe/Berlin"),
            ("monthly 1 07:30", "America/New_York"),
        ] {
            let s = Schedule::parse(text, tz).expect(text);
            assert_eq!(s.text(), text);
        }
        assert!(matches!(
            Schedule::parse("weekly 08:00", "UTC"),
            Err(InvalidSchedule::Shape(_))
        ));
        assert!(matches!(
            Schedule::parse("monthly 31 08:00", "UTC"),
            Err(InvalidSchedule::Part(..))
        ));
        assert!(matches!(
            Schedule::parse("daily 25:00", "UTC"),
            Err(InvalidSchedule::Part(..))
        ));
        assert!(matches!(
            Schedule::parse("daily 08:00", "Mars/Olympus"),
            Err(InvalidSchedule::Zone(_))
        ));
    }

    #[test]
    fn slots_are_local_times_across_zones_and_daylight_saving() {
        let berlin = Schedule::parse("weekly mon 08:00", "Europe/Berlin").expect("valid");
        // Winter: 08:00 in Berlin is 07:00 UTC; summer: 06:00 UTC.
        assert_eq!(
            berlin.last_slot(utc("2026-12-01T12:00:00Z")),
            Some(utc("2026-11-30T07:00:00Z"))
        );
        assert_eq!(
            berlin.last_slot(utc("2026-07-01T12:00:00Z")),
            Some(utc("2026-06-29T06:00:00Z"))
        );
        // The Monday after the change of 2026-03-29 is at 06:00 UTC, the one before at 07:00.
        assert_eq!(
            berlin.next_slot(utc("2026-03-24T00:00:00Z")),
            Some(utc("2026-03-30T06:00:00Z"))
        );
        assert_eq!(
            berlin.last_slot(utc("2026-03-30T05:59:00Z")),
            Some(utc("2026-03-23T07:00:00Z"))
        );
        // A time in the spring-forward gap is sent at the gap's end, once.
        let gap = Schedule::parse("daily 02:30", "Europe/Berlin").expect("valid");
        assert_eq!(
            gap.next_slot(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // A time that happens twice in autumn is sent the first time.
        let twice = Schedule::parse("daily 02:30", "Europe/Berlin").expect("valid");
        assert_eq!(
            twice.next_slot(utc("2026-10-24T12:00:00Z")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            twice.next_slot(utc("2026-10-25T00:30:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
        // New York, monthly on the 1st at 07:30.
        let ny = Schedule::parse("monthly 1 07:30", "America/New_York").expect("valid");
        // 2026-11-01 is the day New York falls back: 07:30 that morning is already EST.
        assert_eq!(
            ny.last_slot(utc("2026-12-01T12:00:00Z")),
            Some(utc("2026-11-01T12:30:00Z"))
        );
        assert_eq!(
            ny.last_slot(utc("2026-12-01T12:30:00Z")),
            Some(utc("2026-12-01T12:30:00Z"))
        );
        assert_eq!(
            ny.period_last_day(utc("2026-11-01T12:30:00Z")).to_string(),
            "2026-10-31"
        );
    }

    #[test]
    fn periods_end_on_the_last_day() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        assert_eq!(
            Every::Daily.period_ending(d("2026-11-30")),
            (d("2026-11-30"), d("2026-11-30"))
        );
        assert_eq!(
            Every::Weekly.period_ending(d("2026-11-29")),
            (d("2026-11-23"), d("2026-11-29"))
        );
        assert_eq!(
            Every::Monthly.period_ending(d("2026-11-30")),
            (d("2026-11-01"), d("2026-11-30"))
        );
        assert_eq!("Weekly".parse::<Every>(), Ok(Every::Weekly));
        assert!("hourly".parse::<Every>().is_err());
    }
}
