//! Where the store lives, as given to `--db`: a file path (SQLite) or a `postgres://` URL.

use std::fmt;
use std::path::PathBuf;

use super::{PgStore, SqliteStore, Store, StoreError};

#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A libpq-style URL (`postgres://user:password@host:port/db?options`).
    Postgres(String),
}

impl Location {
    pub fn parse(raw: &str) -> Self {
        let lower = raw.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Self::Postgres(raw.trim().to_owned())
        } else {
            Self::Sqlite(PathBuf::from(raw))
        }
    }

    /// Opens a new connection (creating and migrating the store when needed).
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Self::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            Self::Postgres(url) => Box::new(PgStore::connect(url)?),
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

/// Shows the location with any password in a URL masked, so it can go into logs.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            Self::Postgres(url) => f.write_str(&mask_password(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_postgres_and_paths_sqlite() {
        assert!(Location::parse("postgres://u@h/db").is_postgres());
        assert!(Location::parse("PostgreSQL://u@h/db").is_postgres());
        assert_eq!(
            Location::parse("data/escamap.db"),
            Location::Sqlite(PathBuf::from("data/escamap.db"))
        );
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let l = Location::parse("postgres://app:s3cret@db.internal:5432/escamap?sslmode=disable");
        assert_eq!(
            l.to_string(),
            "postgres://app:***@db.internal:5432/escamap?sslmode=disable"
        );
        assert_eq!(
            Location::parse("postgres://app@db/escamap").to_string(),
            "postgres://app@db/escamap"
        );
    }
}
