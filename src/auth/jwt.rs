//! JWTs from the app's identity provider: HS256 with a shared secret, or RS256/ES256 with
//! public keys from a PEM file, a JWKS file or a JWKS URL. Issuer, audience, expiry and (when
//! present) not-before are always checked; the caller's identity is one claim (default `sub`),
//! and only a printable one is accepted.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Where verification keys come from, and what every token must say.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub hs256_secret: Option<SecretString>,
    /// PEM text of one RSA or EC (P-256) public key.
    pub public_key_pem: Option<String>,
    /// JSON of a JWKS.
    pub jwks: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub identity_claim: String,
    pub leeway_secs: u64,
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Checks bearer JWTs.
pub struct JwtVerifier {
    settings: JwtSettings,
    static_keys: Vec<Key>,
    fetched: RwLock<Vec<Key>>,
    http: reqwest::Client,
    last_fetch: Mutex<Option<Instant>>,
}

/// Least time between two fetches of the JWKS URL (an unknown `kid` triggers one).
const REFETCH_AFTER: Duration = Duration::from_secs(60);

fn keys_from_jwks(text: &str) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let keys = set
        .keys
        .iter()
        .filter_map(|jwk| {
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            })
        })
        .collect::<Vec<_>>();
    if keys.is_empty() {
        return Err("the JWKS holds no RSA or P-256 key".into());
    }
    Ok(keys)
}

impl JwtVerifier {
    /// Loads the static keys; a JWKS URL is fetched on first need.
    pub fn new(settings: JwtSettings) -> Result<Self, String> {
        let mut static_keys = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            static_keys.push(Key {
                kid: None,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.expose_secret().as_bytes())
                    .map_err(|e| format!("JWT_HS256_SECRET: {e}"))?,
            });
        }
        if let Some(pem) = &settings.public_key_pem {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map(|key| Key {
                    kid: None,
                    alg: Algorithm::RS256,
                    key,
                })
                .or_else(|_| {
                    DecodingKey::from_ec_pem(pem.as_bytes()).map(|key| Key {
                        kid: None,
                        alg: Algorithm::ES256,
                        key,
                    })
                })
                .map_err(|_| {
                    "JWT_PUBLIC_KEY_FILE: not an RSA or EC public key in PEM".to_owned()
                })?;
            static_keys.push(key);
        }
        if let Some(jwks) = &settings.jwks {
            static_keys.extend(keys_from_jwks(jwks).map_err(|e| format!("JWT_JWKS_FILE: {e}"))?);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("JWT_JWKS_URL: {e}"))?;
        Ok(Self {
            settings,
            static_keys,
            fetched: RwLock::default(),
            http,
            last_fetch: Mutex::new(None),
        })
    }

    /// Fetches the JWKS URL, at most once a minute.
    pub async fn refresh(&self) {
        let Some(url) = &self.settings.jwks_url else {
            return;
        };
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
            return;
        }
        *last = Some(Instant::now());
        let fetched = async {
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let text = response
                .text()
                .await
                .map_err(|e| e.without_url().to_string())?;
            keys_from_jwks(&text)
        }
        .await;
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS fetched");
                *self.fetched.write().unwrap_or_else(|p| p.into_inner()) = keys;
            }
            Err(err) => tracing::warn!(error = %err, "JWKS could not be fetched"),
        }
    }

    fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Vec<Key> {
        let fetched = self.fetched.read().unwrap_or_else(|p| p.into_inner());
        self.static_keys
            .iter()
            .chain(fetched.iter())
            .filter(|k| {
                k.alg == alg && (kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
            })
            .cloned()
            .collect()
    }

    /// The identity the token vouches for, or why it is refused (in words safe to send back).
    pub async fn verify(&self, token: &str) -> Result<String, String> {
        let header =
            decode_header(token).map_err(|_| "the bearer token is not a JWT".to_owned())?;
        if !matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256
        ) {
            return Err(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            ));
        }
        let kid = header.kid.as_deref();
        let mut keys = self.candidates(header.alg, kid);
        if keys.is_empty() && self.settings.jwks_url.is_some() {
            self.refresh().await;
            keys = self.candidates(header.alg, kid);
        }
        if keys.is_empty() {
            return Err(format!(
                "no key here verifies {:?} tokens{}",
                header.alg,
                kid.map(|k| format!(" with kid '{k}'")).unwrap_or_default()
            ));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.settings.leeway_secs;
        validation.validate_nbf = true;
        let mut last_error = "the token's signature does not verify".to_owned();
        for key in keys {
            match decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return self.identity(&data.claims),
                Err(err) => {
                    last_error = match err.kind() {
                        ErrorKind::ExpiredSignature => "the token has expired".into(),
                        ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
                        ErrorKind::InvalidAudience => "the token is for another audience".into(),
                        ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
                        ErrorKind::MissingRequiredClaim(claim) => {
                            format!("the token has no '{claim}' claim")
                        }
                        ErrorKind::InvalidSignature => {
                            "the token's signature does not verify".into()
                        }
                        _ => "the token is not valid".into(),
                    };
                    // A wrong signature may just mean another key of the set signed it.
                    if !matches!(err.kind(), ErrorKind::InvalidSignature) {
                        return Err(last_error);
                    }
                }
            }
        }
        Err(last_error)
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let claim = &self.settings.identity_claim;
        let identity = match claims.get(claim) {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if identity.is_empty() {
            return Err(format!(
                "the token's '{claim}' claim is missing, blank or not a string"
            ));
        }
        if let Some(why) = unusable_identity(&identity) {
            return Err(format!("the token's '{claim}' claim {why}"));
        }
        Ok(identity)
    }
}

/// Longest identity accepted, in characters.
pub const MAX_IDENTITY_CHARS: usize = 128;

/// Why `identity` cannot name a caller, if it cannot: it becomes an owner stored with every
/// meeting, written to logs and sent to EnableX, so it must be plain printable text.
fn unusable_identity(identity: &str) -> Option<String> {
    if identity.chars().count() > MAX_IDENTITY_CHARS {
        return Some(format!("is longer than {MAX_IDENTITY_CHARS} characters"));
    }
    if identity.contains('\0') {
        return Some("holds a NUL character".into());
    }
    if identity.chars().any(char::is_control) {
        return Some("holds a control character (such as CR or LF)".into());
    }
    if identity.chars().any(crate::meetings::is_invisible_format) {
        return Some(
            "holds an invisible formatting character (such as a bidirectional override)".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::unusable_identity;

    #[test]
    fn only_printable_identities_of_bounded_length_are_usable() {
        for good in [
            "user-42",
            "ana@example.com",
            "Zoë Ωmega 名前",
            &"x".repeat(128),
        ] {
            assert_eq!(unusable_identity(good), None, "{good}");
        }
        for bad in [
            "evil\r\nX: 1\u{202e}\u{0}",
            "a\u{0}b",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}",
            "rtl\u{202e}txt",
            "isolate\u{2066}x",
            "zero\u{200b}width",
            "bom\u{feff}",
            "line\u{2028}sep",
            "tag\u{e0041}",
            &"x".repeat(129),
        ] {
            assert!(unusable_identity(bad).is_some(), "{bad:?}");
        }
    }
}
