//! Numbers as people read them, written once for the pages, the SVGs and the tooltips:
//! thousands separated by commas (`1,000,000`), and a compact form (`48.7k`, `1.2M`) only where
//! space forces it, with the exact value beside it in a tooltip.

/// A whole number with thousands separators: `1234567` -> `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `v` with `decimals` places and its whole part grouped: `12345.678, 2` -> `12,345.68`.
pub fn grouped_f(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let text = format!("{:.*}", decimals, v.abs());
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let whole = whole
        .parse::<u64>()
        .map_or_else(|_| whole.to_owned(), grouped);
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

/// A whole number in at most five characters or so: `999`, `9,999`, `48.7k`, `487k`, `1.2M`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    if a < 10_000.0 {
        format!("{sign}{}", grouped_f(a, 0))
    } else if a < 100_000.0 {
        format!("{sign}{:.1}k", a / 1e3)
    } else if a < 999_500.0 {
        format!("{sign}{:.0}k", a / 1e3)
    } else if a < 10_000_000.0 {
        format!("{sign}{:.1}M", a / 1e6)
    } else {
        format!("{sign}{:.0}M", a / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_compact_forms() {
        for (n, s) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (12345, "12,345"),
            (1_000_000, "1,000,000"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(grouped(n), s);
        }
        assert_eq!(grouped_f(12345.678, 2), "12,345.68");
        assert_eq!(grouped_f(-1234.5, 1), "-1,234.5");
        assert_eq!(grouped_f(-0.01, 1), "0.0");
        assert_eq!(grouped_f(f64::NAN, 1), "–");
        for (v, s) in [
            (950.0, "950"),
            (9_999.0, "9,999"),
            (48_700.0, "48.7k"),
            (487_000.0, "487k"),
            (999_499.0, "999k"),
            (999_500.0, "1.0M"),
            (1_234_567.0, "1.2M"),
            (12_345_678.0, "12M"),
            (-48_700.0, "-48.7k"),
        ] {
            assert_eq!(compact(v), s, "{v}");
        }
    }
}
