//! API keys: `rg_<id>_<secret>`. The id is public (it names the key in logs and lookups); only
//! a SHA-256 of the secret is stored, and it is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every roomgate API key starts with this, so a leaked one is easy to recognise and scan for.
pub const KEY_PREFIX: &str = "rg_";

/// A stored key: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The public part of the key (16 hex digits).
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
    pub admin: bool,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// Not revoked, or revoked only from a later time (a rotation's grace period).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|at| at > now)
    }
}

/// A key as made: the full text to hand out once, and its record to store.
pub struct NewKey {
    pub text: String,
    pub record: KeyRecord,
}

/// Why a key name is refused.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_len = (1..=64).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err("a key name is 1 to 64 letters, digits, '-', '_' or '.'".into())
    }
}

/// Makes a new random key: 64 bits of id and 256 bits of secret from the OS.
pub fn generate(name: &str, admin: bool, now: DateTime<Utc>) -> Result<NewKey, String> {
    check_name(name)?;
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness: {e}"))?;
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness: {e}"))?;
    let id = hex::encode(id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    Ok(NewKey {
        text: format!("{KEY_PREFIX}{id}_{secret}"),
        record: KeyRecord {
            id,
            name: name.to_owned(),
            secret_hash: hash(&secret),
            admin,
            created_at: now,
            revoked_at: None,
        },
    })
}

/// Splits a presented key into its id and secret, if it has the shape of one.
pub fn parse(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && !secret.is_empty()).then_some((id, secret))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` is the one `record` was made with (constant-time comparison).
pub fn matches(record: &KeyRecord, secret: &str) -> bool {
    hash(secret)
        .as_bytes()
        .ct_eq(record.secret_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_matches_only_itself() {
        let key = generate("backend", false, Utc::now()).expect("key");
        assert!(key.text.starts_with("rg_"));
        assert!(key.text.len() > 55, "{}", key.text);
        let (id, secret) = parse(&key.text).expect("parses");
        assert_eq!(id, key.record.id);
        assert!(matches(&key.record, secret));
        assert!(!matches(&key.record, "guess"));
        assert!(
            !key.record.secret_hash.contains(secret),
            "only the hash is kept"
        );
        let other = generate("backend", false, Utc::now()).expect("key");
        assert_ne!(other.text, key.text);
    }

    #[test]
    fn text_that_is_not_a_key_does_not_parse() {
        for text in [
            "",
            "rg_",
            "rg_abc_def",
            "sk_0123456789abcdef_x",
            "rg_0123456789abcdeg_x",
            "rg_0123456789abcdef_",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ops.admin-1").is_ok());
        for bad in ["", "with space", "émoji", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
