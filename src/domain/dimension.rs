use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $name:ident, $err:ident, $what:literal {
            $($variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            $($variant),+
        }

        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {what} {value:?}: expected one of {expected}", what = $what, value = self.0, expected = $name::NAMES.join(", "))]
        pub struct $err(pub String);

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| $err(wanted.chars().take(64).collect()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }
    };
}

closed_set! {
    /// An axis of a heatmap.
    Dimension, InvalidDimension, "dimension" {
        Client => "client",
        Product => "product",
        Region => "region",
        Severity => "severity",
        Month => "month",
        Quarter => "quarter",
        Week => "week",
    }
}

closed_set! {
    /// What a heatmap cell counts.
    Measure, InvalidMeasure, "measure" {
        Count => "count",
        Score => "score",
        Mean => "mean",
        High => "high",
        Mttr => "mttr",
        Open => "open",
    }
}

closed_set! {
    /// What a heatmap's shares are of: each value divided by its row's, its column's or the
    /// grand total.
    Normalize, InvalidNormalize, "normalization" {
        Row => "row",
        Col => "col",
        Total => "total",
    }
}

closed_set! {
    /// What a heatmap is set against.
    Compare, InvalidCompare, "comparison" {
        Previous => "previous",
    }
}

closed_set! {
    /// The periods of a backlog series.
    Period, InvalidPeriod, "period" {
        Month => "month",
        Week => "week",
    }
}

closed_set! {
    /// The original dashboard's three views.
    View, InvalidView, "view" {
        ProductTimeline => "product-timeline",
        Regional => "regional",
        ClientOverview => "client-overview",
    }
}

closed_set! {
    /// A column the escalation list can be sorted by.
    SortColumn, InvalidSortColumn, "sort column" {
        Id => "id",
        Client => "client",
        Product => "product",
        Region => "region",
        Severity => "severity",
        Opened => "opened",
        Closed => "closed",
        Status => "status",
    }
}

impl Dimension {
    /// Time dimensions are ordered chronologically and gap-filled.
    pub fn is_time(self) -> bool {
        matches!(self, Self::Month | Self::Quarter | Self::Week)
    }

    /// A label for axis titles.
    pub fn title(self) -> &'static str {
        match self {
            Self::Client => "Client",
            Self::Product => "Product",
            Self::Region => "Region",
            Self::Severity => "Severity",
            Self::Month => "Month",
            Self::Quarter => "Quarter",
            Self::Week => "Week",
        }
    }
}

impl Measure {
    /// Whether every cell is a whole number (all but the two means).
    pub fn is_integral(self) -> bool {
        !matches!(self, Self::Mean | Self::Mttr)
    }

    /// Whether a total is the sum of its parts (count, score, high, open), so shares of it make
    /// sense and an absent cell is 0; the means are not (an absent cell has no value).
    pub fn is_additive(self) -> bool {
        !matches!(self, Self::Mean | Self::Mttr)
    }

    /// The measure as a control offers it, in people's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Count => "Escalations (count)",
            Self::Score => "Severity score",
            Self::Mean => "Mean score",
            Self::High => "High + Critical",
            Self::Mttr => "Mean days to resolve",
            Self::Open => "Open escalations",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Count => "Escalations",
            Self::Score => "Severity score",
            Self::Mean => "Mean severity score",
            Self::High => "High-severity escalations",
            Self::Mttr => "Mean days to resolve",
            Self::Open => "Open escalations",
        }
    }
}

impl Period {
    /// The heatmap dimension whose periods these are.
    pub fn dimension(self) -> Dimension {
        match self {
            Self::Month => Dimension::Month,
            Self::Week => Dimension::Week,
        }
    }
}

impl View {
    /// rows, cols, measure: product x month by score, region x severity by count,
    /// client x product by score, as in the original.
    pub fn spec(self) -> (Dimension, Dimension, Measure) {
        match self {
            Self::ProductTimeline => (Dimension::Product, Dimension::Month, Measure::Score),
            Self::Regional => (Dimension::Region, Dimension::Severity, Measure::Count),
            Self::ClientOverview => (Dimension::Client, Dimension::Product, Measure::Score),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::ProductTimeline => "Product Timeline",
            Self::Regional => "Regional Analysis",
            Self::ClientOverview => "Client Overview",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive_and_round_trips() {
        for d in Dimension::ALL {
            assert_eq!(d.as_str().to_uppercase().parse::<Dimension>(), Ok(*d));
        }
        for m in Measure::ALL {
            assert_eq!(m.to_string().parse::<Measure>(), Ok(*m));
        }
        assert_eq!("client-overview".parse::<View>(), Ok(View::ClientOverview));
        let err = "day"
            .parse::<Dimension>()
            .expect_err("day is not a dimension");
        assert!(err.to_string().contains("client, product, region"), "{err}");
    }

    #[test]
    fn views_are_the_originals() {
        assert_eq!(
            View::ProductTimeline.spec(),
            (Dimension::Product, Dimension::Month, Measure::Score)
        );
        assert_eq!(
            View::Regional.spec(),
            (Dimension::Region, Dimension::Severity, Measure::Count)
        );
        assert_eq!(
            View::ClientOverview.spec(),
            (Dimension::Client, Dimension::Product, Measure::Score)
        );
    }
}
