//! Saved views: a name plus the dashboard's state (its query string), kept for the user who saved
//! it or shared with everyone. The query is validated and made canonical by the caller that
//! parses query strings (the web's `params::dashboard_query`, which the CLI uses too); this room
//! owns the rules about names and who sees and removes what.

use super::{App, AppError};
use crate::store::{NewView, SavedView, StoreError};

/// A view's name: 1 to 80 characters, none of them control characters, trimmed.
pub const MAX_VIEW_NAME: usize = 80;

/// Who is asking: a user's name (and whether they are an admin), or nobody (an open server, the
/// command line), who sees and manages every view.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    User { name: &'a str, admin: bool },
    Anyone,
}

impl<'a> Viewer<'a> {
    /// A user by name (an admin sees and manages every view), or, without one, anyone.
    pub fn of(user: Option<&'a str>, admin: bool) -> Self {
        match user {
            Some(name) => Self::User { name, admin },
            None => Self::Anyone,
        }
    }

    fn owner(&self) -> Option<String> {
        match self {
            Self::User { name, .. } => Some((*name).to_owned()),
            Self::Anyone => None,
        }
    }

    /// Sees `v`: a shared view, one's own, or everything (an admin, nobody in particular).
    pub fn sees(&self, v: &SavedView) -> bool {
        match self {
            Self::User { name, admin } => {
                *admin || v.shared || v.owner.as_deref().is_some_and(|o| o == *name)
            }
            Self::Anyone => true,
        }
    }

    /// Manages what `user` owns (a subscription, an alert): `user` themself, an admin, or
    /// anyone on an open server or the command line.
    pub fn owns(&self, user: &str) -> bool {
        match self {
            Self::User { name, admin } => *admin || *name == user,
            Self::Anyone => true,
        }
    }

    /// May replace or delete `v`: its owner, an admin, or anyone for a view without an owner.
    pub fn manages(&self, v: &SavedView) -> bool {
        match self {
            Self::User { name, admin } => *admin || v.owner.as_deref().is_none_or(|o| o == *name),
            Self::Anyone => true,
        }
    }
}

fn valid_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_VIEW_NAME || name.chars().any(char::is_control)
    {
        return Err(AppError::BadViewName);
    }
    Ok(name.to_owned())
}

impl App {
    /// The views `who` sees, by name.
    pub fn views(&self, who: Viewer<'_>) -> Result<Vec<SavedView>, AppError> {
        let all = self.store().views()?;
        Ok(all.into_iter().filter(|v| who.sees(v)).collect())
    }

    /// The view named `name` (in any case), if `who` sees it.
    pub fn view(&self, name: &str, who: Viewer<'_>) -> Result<SavedView, AppError> {
        self.views(who)?
            .into_iter()
            .find(|v| v.name.to_lowercase() == name.trim().to_lowercase())
            .ok_or_else(|| AppError::NoSuchView(name.trim().to_owned()))
    }

    /// Saves `query` (canonical already) under `name`, for `who` or, `shared`, for everyone. A
    /// view of that name that `who` may not manage is left alone: a conflict.
    pub fn save_view(
        &self,
        name: &str,
        query: &str,
        shared: bool,
        who: Viewer<'_>,
    ) -> Result<SavedView, AppError> {
        let name = valid_name(name)?;
        let mut store = self.store();
        let existing = store
            .views()?
            .into_iter()
            .find(|v| v.name.to_lowercase() == name.to_lowercase());
        if let Some(v) = existing
            && !who.manages(&v)
        {
            return Err(AppError::Store(StoreError::Conflict(format!(
                "a view named {:?} exists and is not yours",
                v.name
            ))));
        }
        Ok(store.save_view(&NewView {
            name,
            owner: who.owner(),
            shared: shared || matches!(who, Viewer::Anyone),
            query: query.to_owned(),
            created_at: chrono::Utc::now(),
        })?)
    }

    /// Deletes the view `name`, if `who` may.
    pub fn delete_view(&self, name: &str, who: Viewer<'_>) -> Result<(), AppError> {
        let v = self.view(name, who)?;
        if !who.manages(&v) {
            return Err(AppError::NotYourView(v.name));
        }
        Ok(self.store().delete_view(&v.name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(owner: Option<&str>, shared: bool) -> SavedView {
        SavedView {
            id: 1,
            name: "v".into(),
            owner: owner.map(str::to_owned),
            shared,
            query: String::new(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn who_sees_and_manages_what() {
        let ana = Viewer::User {
            name: "ana",
            admin: false,
        };
        let admin = Viewer::User {
            name: "root",
            admin: true,
        };
        let private_bo = view(Some("bo"), false);
        let shared_bo = view(Some("bo"), true);
        assert!(!ana.sees(&private_bo));
        assert!(ana.sees(&shared_bo) && !ana.manages(&shared_bo));
        assert!(ana.sees(&view(Some("ana"), false)) && ana.manages(&view(Some("ana"), false)));
        assert!(admin.sees(&private_bo) && admin.manages(&private_bo));
        assert!(Viewer::Anyone.sees(&private_bo) && Viewer::Anyone.manages(&private_bo));
        assert!(
            ana.manages(&view(None, true)),
            "a view without an owner is everyone's"
        );
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(
            valid_name("  Globex weekly ").ok().as_deref(),
            Some("Globex weekly")
        );
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(81)] {
            assert!(
                matches!(valid_name(bad), Err(AppError::BadViewName)),
                "{bad:?}"
            );
        }
    }
}
