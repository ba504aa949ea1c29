//! Credentials and signatures: argon2id password hashes, random session and API tokens (stored
//! only as SHA-256 digests), and the secret key that signs session cookies and CSRF tokens.
//!
//! The secret comes from `ESCAMAP_SECRET_KEY` (or the original's `SECRET_KEY`); when unset, a
//! random key is generated once and kept next to the store in `escamap.secret`, mode 0600.
//! Changing the key signs everyone out.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::domain::Password;

/// A random 256-bit value as 64 hex characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 under `key` of the concatenated `parts`, hex: the one keyed signature, behind the
/// cookies, the forms, the unsubscribe links and the webhooks' `X-EscaMap-Signature`.
pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    for p in parts {
        mac.update(p);
    }
    hex(&mac.finalize().into_bytes())
}

/// What the store keeps of a session id or API token.
pub fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// An argon2id PHC string with a random salt.
pub fn hash_password(p: &Password) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(p.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a password against a stored hash. An unreadable hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of a password nobody has, verified against when an account does not exist, so a wrong
/// name costs as much time as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        Password::new(&random_token())
            .ok()
            .and_then(|p| hash_password(&p).ok())
            .unwrap_or_default()
    })
}

/// The key behind every signature.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key in {0} is unreadable or too short")]
    Bad(String),
    #[error("cannot keep the secret key in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl SecretKey {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// From `ESCAMAP_SECRET_KEY` or the original's `SECRET_KEY`, when one is set.
    pub fn from_env() -> Option<Self> {
        ["ESCAMAP_SECRET_KEY", "SECRET_KEY"].iter().find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Self(v.trim().as_bytes().to_vec()))
        })
    }

    /// From `ESCAMAP_SECRET_KEY`/`SECRET_KEY`, else from (or into) `escamap.secret` in `dir`.
    pub fn load(dir: &Path) -> Result<Self, SecretError> {
        if let Some(key) = Self::from_env() {
            return Ok(key);
        }
        let path = dir.join("escamap.secret");
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(s) if s.trim().len() >= 32 => Ok(Self(s.trim().as_bytes().to_vec())),
            Ok(_) => Err(SecretError::Bad(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_token();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&path).map_err(io)?;
                std::io::Write::write_all(&mut f, key.as_bytes()).map_err(io)?;
                Ok(Self(key.into_bytes()))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// HMAC-SHA256 of `purpose` and `value`, hex.
    pub fn sign(&self, purpose: &str, value: &str) -> String {
        hmac_hex(&self.0, &[purpose.as_bytes(), b"\x1f", value.as_bytes()])
    }

    /// Constant-time check of a signature made by [`SecretKey::sign`].
    pub fn verify(&self, purpose: &str, value: &str, signature: &str) -> bool {
        let want = self.sign(purpose, value);
        want.len() == signature.len()
            && want
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let p = Password::new("correct horse battery").expect("valid");
        let h = hash_password(&p).expect("hashes");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("anything", decoy_hash()));
    }

    #[test]
    fn signatures_depend_on_key_purpose_and_value() {
        let k = SecretKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let s = k.sign("csrf", "abc");
        assert!(k.verify("csrf", "abc", &s));
        assert!(!k.verify("session", "abc", &s));
        assert!(!k.verify("csrf", "abd", &s));
        assert!(
            !SecretKey::from_bytes(b"another key entirely, 32 bytes!!").verify("csrf", "abc", &s)
        );
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
        assert_eq!(digest("x").len(), 64);
    }

    #[test]
    fn a_generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        // SAFETY of the test: only reads env; the vars are not set in the test environment.
        if std::env::var("ESCAMAP_SECRET_KEY").is_ok() || std::env::var("SECRET_KEY").is_ok() {
            return;
        }
        let a = SecretKey::load(dir.path()).expect("created");
        let b = SecretKey::load(dir.path()).expect("read back");
        assert_eq!(a.sign("x", "y"), b.sign("x", "y"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("escamap.secret"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
