use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad an escalation is. Four levels, scored 1..=4; High and Critical count as "high severity".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown severity {0:?}: expected low/medium/high/critical, P1-P4, Sev1-Sev4, S1-S4, \
     urgent, blocker, major, normal, moderate, minor, trivial or a number 0-10"
)]
pub struct InvalidSeverity(pub String);

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The score used by the `score` and `mean` measures: Low=1 .. Critical=4.
    pub const fn score(self) -> u8 {
        self as u8 + 1
    }

    /// High and Critical: what the "High severity" card and the `high` measure count.
    pub const fn is_high(self) -> bool {
        matches!(self, Self::High | Self::Critical)
    }

    /// Its position in [`Severity::ALL`] (Low=0 .. Critical=3), how the index stores it.
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }

    /// Inverse of [`Severity::score`].
    pub fn from_score(score: u8) -> Option<Self> {
        Self::ALL.get(usize::from(score).checked_sub(1)?).copied()
    }

    /// The original's rule for its `numberrange` column: clip to 0..=10, then
    /// High from 7, Medium from 5, else Low. It never yields Critical.
    pub fn from_number_range(value: f64) -> Self {
        let v = value.clamp(0.0, 10.0);
        if v >= 7.0 {
            Self::High
        } else if v >= 5.0 {
            Self::Medium
        } else {
            Self::Low
        }
    }

    /// Parses the spellings support tools use. Case-insensitive, surrounding spaces ignored.
    /// A level by name or code: low/medium/high/critical and their common synonyms, P1-P4,
    /// Sev1-Sev4, S1-S4 (1 is critical), case-insensitive. What a filter (`--severity`,
    /// `severity=`) takes; the OpenAPI document's pattern says the same.
    pub fn parse_level(raw: &str) -> Result<Self, InvalidSeverity> {
        let s = raw.trim().to_ascii_lowercase();
        let word = match s.as_str() {
            "low" | "minor" | "trivial" | "lowest" => Some(Self::Low),
            "medium" | "normal" | "moderate" => Some(Self::Medium),
            "high" | "major" => Some(Self::High),
            "critical" | "urgent" | "blocker" | "highest" => Some(Self::Critical),
            _ => None,
        };
        if let Some(sev) = word {
            return Ok(sev);
        }
        // P1-P4, Sev1-Sev4, S1-S4, also written "sev 1", "sev-1", "P1 - Critical" is not accepted
        // on purpose: the level must be unambiguous.
        for prefix in ["sev", "p", "s"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                let digits = rest.trim_start_matches([' ', '-', '_']);
                return match digits {
                    "1" => Ok(Self::Critical),
                    "2" => Ok(Self::High),
                    "3" => Ok(Self::Medium),
                    "4" => Ok(Self::Low),
                    _ => Err(InvalidSeverity(raw.trim().to_owned())),
                };
            }
        }
        Err(InvalidSeverity(raw.trim().to_owned()))
    }

    /// A level as a file may carry it: [`Severity::parse_level`], or a number from 0 to 10 read
    /// with the original's ranges.
    ///
    /// Also ServiceNow's `1 - Critical`, `2 - High`, `3 - Moderate`, `4 - Low` and `5 - Planning`
    /// (the lowest, read as Low): the word after the number decides.
    pub fn parse_lenient(raw: &str) -> Result<Self, InvalidSeverity> {
        Self::parse_level(raw)
            .or_else(|e| match raw.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && (0.0..=10.0).contains(&n) => {
                    Ok(Self::from_number_range(n))
                }
                _ => Err(e),
            })
            .or_else(|e| {
                let (number, word) = raw.trim().split_once('-').ok_or(e.clone())?;
                if number.trim().is_empty() || !number.trim().bytes().all(|b| b.is_ascii_digit()) {
                    return Err(e);
                }
                match word.trim().to_ascii_lowercase().as_str() {
                    "planning" => Ok(Self::Low),
                    w => Self::parse_level(w).map_err(|_| e),
                }
            })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = InvalidSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_level(s)
    }
}

impl TryFrom<String> for Severity {
    type Error = InvalidSeverity;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Severity> for String {
    fn from(s: Severity) -> String {
        s.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_maps_to_its_level() {
        let cases = [
            ("low", Severity::Low),
            ("MEDIUM", Severity::Medium),
            (" High ", Severity::High),
            ("Critical", Severity::Critical),
            ("P1", Severity::Critical),
            ("p2", Severity::High),
            ("P3", Severity::Medium),
            ("P4", Severity::Low),
            ("Sev1", Severity::Critical),
            ("SEV2", Severity::High),
            ("sev 3", Severity::Medium),
            ("Sev-4", Severity::Low),
            ("S1", Severity::Critical),
            ("s2", Severity::High),
            ("S3", Severity::Medium),
            ("S4", Severity::Low),
            ("urgent", Severity::Critical),
            ("Blocker", Severity::Critical),
            ("major", Severity::High),
            ("Normal", Severity::Medium),
            ("moderate", Severity::Medium),
            ("minor", Severity::Low),
            ("TRIVIAL", Severity::Low),
            ("0", Severity::Low),
            ("4.9", Severity::Low),
            ("5", Severity::Medium),
            ("6.99", Severity::Medium),
            ("7", Severity::High),
            ("10", Severity::High),
        ];
        for (raw, want) in cases {
            assert_eq!(Severity::parse_lenient(raw), Ok(want), "{raw}");
        }
    }

    #[test]
    fn unknown_spellings_are_refused() {
        for raw in [
            "", "P0", "P5", "sev", "S9", "11", "-1", "NaN", "inf", "hi", "crit",
        ] {
            assert!(
                Severity::parse_lenient(raw).is_err(),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn a_filter_takes_levels_by_name_or_code_but_not_numbers() {
        assert_eq!("P1".parse::<Severity>(), Ok(Severity::Critical));
        assert_eq!(" High ".parse::<Severity>(), Ok(Severity::High));
        for raw in ["5", "7.5", "0", "P0", ""] {
            assert!(raw.parse::<Severity>().is_err(), "{raw:?}");
        }
    }

    #[test]
    fn number_range_matches_the_original() {
        assert_eq!(Severity::from_number_range(-3.0), Severity::Low);
        assert_eq!(Severity::from_number_range(4.99), Severity::Low);
        assert_eq!(Severity::from_number_range(5.0), Severity::Medium);
        assert_eq!(Severity::from_number_range(7.0), Severity::High);
        assert_eq!(Severity::from_number_range(99.0), Severity::High);
    }

    #[test]
    fn scores_and_high() {
        let scores: Vec<u8> = Severity::ALL.iter().map(|s| s.score()).collect();
        assert_eq!(scores, [1, 2, 3, 4]);
        assert!(!Severity::Medium.is_high());
        assert!(Severity::High.is_high() && Severity::Critical.is_high());
        for s in Severity::ALL {
            assert_eq!(Severity::from_score(s.score()), Some(s));
        }
        assert_eq!(Severity::from_score(0), None);
    }
}
