//! How often something is sent, and the period each sending is about.

use chrono::{Datelike, Days, NaiveDate};

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

#[cfg(test)]
mod tests {
    use super::*;

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
