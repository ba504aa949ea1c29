//! Accounts, sessions, API tokens and the login throttle. The security events these changes are
//! logged as are written by the caller that knows who acted (the web handlers, the command
//! line), once, with `actor` and `target`.

use super::{App, AppError};
use crate::domain::{Password, Role, User, UserName};
use crate::store::{StoreError, TokenRecord};

/// Failed logins are counted per account and per address over this window...
const THROTTLE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// ...and a login is refused once either has this many.
const MAX_FAILURES_ACCOUNT: u64 = 5;
const MAX_FAILURES_ADDRESS: u64 = 20;

fn throttle_keys(account: &str, ip: std::net::IpAddr) -> [(String, u64); 2] {
    [
        (
            format!("account:{}", account.trim().to_lowercase()),
            MAX_FAILURES_ACCOUNT,
        ),
        (format!("ip:{ip}"), MAX_FAILURES_ADDRESS),
    ]
}

impl App {
    pub fn user_count(&self) -> Result<u64, AppError> {
        Ok(self.store().user_count()?)
    }

    pub fn add_user(
        &self,
        name: &UserName,
        role: Role,
        password: &Password,
    ) -> Result<User, AppError> {
        let hash = crate::auth::hash_password(password)?;
        let user = self.store().create_user(name, role, &hash)?;
        Ok(user)
    }

    pub fn users(&self) -> Result<Vec<User>, AppError> {
        Ok(self.store().users()?)
    }

    pub fn remove_user(&self, name: &str) -> Result<(), AppError> {
        self.store().delete_user(name)?;
        Ok(())
    }

    /// Sets a new password and ends every session of the account.
    pub fn set_password(&self, name: &str, password: &Password) -> Result<(), AppError> {
        let hash = crate::auth::hash_password(password)?;
        self.store().set_password(name, &hash)?;
        Ok(())
    }

    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AppError> {
        self.store().set_role(name, role)?;
        Ok(())
    }

    /// The account when name and password match. A missing account costs the same time as a
    /// wrong password (a decoy hash is verified), and the caller cannot tell them apart.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<User>, AppError> {
        let found = self.store().user_by_name(name.trim())?;
        let hash = found
            .as_ref()
            .map_or(crate::auth::decoy_hash(), |(_, h)| h.as_str());
        let ok = crate::auth::verify_password(password, hash);
        Ok(found.filter(|_| ok).map(|(u, _)| u))
    }

    /// Starts a session; returns the raw session id the client keeps (the store keeps its digest).
    pub fn start_session(&self, user: &User) -> Result<String, AppError> {
        let raw = crate::auth::random_token();
        self.store()
            .create_session(&crate::auth::digest(&raw), user.id, chrono::Utc::now())?;
        Ok(raw)
    }

    pub fn session_user(
        &self,
        raw: &str,
        idle: chrono::Duration,
    ) -> Result<Option<User>, AppError> {
        Ok(self
            .store()
            .session_user(&crate::auth::digest(raw), idle, chrono::Utc::now())?)
    }

    pub fn end_session(&self, raw: &str) -> Result<(), AppError> {
        Ok(self.store().delete_session(&crate::auth::digest(raw))?)
    }

    /// Creates an API token for an account; the raw token is returned once and never stored.
    pub fn create_token(
        &self,
        user_name: &str,
        label: &str,
    ) -> Result<(TokenRecord, String), AppError> {
        let mut store = self.store();
        let (user, _) = store.user_by_name(user_name)?.ok_or(StoreError::NotFound)?;
        let raw = crate::auth::random_token();
        let label: String = label
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let record = store.create_token(
            user.id,
            &label,
            &crate::auth::digest(&raw),
            chrono::Utc::now(),
        )?;
        Ok((record, raw))
    }

    /// Seconds to wait before the next login attempt for this account from this address, when
    /// either has failed too often lately. Counted in the store, so every instance on it agrees.
    pub fn login_wait(&self, account: &str, ip: std::net::IpAddr) -> Result<Option<u64>, AppError> {
        let now = chrono::Utc::now();
        let mut store = self.store();
        for (key, max) in throttle_keys(account, ip) {
            let (n, oldest) = store.login_failures(&key, now - THROTTLE_WINDOW)?;
            if n >= max {
                let waited = oldest.map_or(chrono::Duration::zero(), |t| now - t);
                let left = (THROTTLE_WINDOW - waited).num_seconds();
                return Ok(Some(u64::try_from(left).unwrap_or(0).max(1)));
            }
        }
        Ok(None)
    }

    pub fn login_failed(&self, account: &str, ip: std::net::IpAddr) -> Result<(), AppError> {
        let keys = throttle_keys(account, ip);
        let keys: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        Ok(self
            .store()
            .record_login_failure(&keys, chrono::Utc::now())?)
    }

    /// A good password clears the account's failures (not the address's).
    pub fn login_succeeded(&self, account: &str, ip: std::net::IpAddr) -> Result<(), AppError> {
        let [(account_key, _), _] = throttle_keys(account, ip);
        Ok(self.store().clear_login_failures(&account_key)?)
    }

    /// The value shared by every instance on the store under `key`, set to `default` the first
    /// time it is asked for.
    pub fn shared_setting(&self, key: &str, default: &str) -> Result<String, AppError> {
        Ok(self.store().setting_or_insert(key, default)?)
    }

    pub fn token_user(&self, raw: &str) -> Result<Option<User>, AppError> {
        Ok(self
            .store()
            .token_user(&crate::auth::digest(raw), chrono::Utc::now())?)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>, AppError> {
        Ok(self.store().tokens()?)
    }

    pub fn delete_token(&self, id: i64) -> Result<(), AppError> {
        self.store().delete_token(id)?;
        Ok(())
    }
}
