//! Settings for who may call roomgate and how much: JWT verification, rate limits, request
//! time limits, connection limits and CORS.

use super::ConfigError;
use super::setting::{Flag, Number, Text, given};
use crate::auth::JwtSettings;
use clap::Args;
use secrecy::SecretString;
use std::num::NonZeroU32;
use std::time::Duration;

pub const JWT_HS256_SECRET: Text = Text {
    env: "JWT_HS256_SECRET",
    about: "Shared secret for HS256 JWTs (at least 32 characters)",
    default: None,
};
pub const JWT_PUBLIC_KEY_FILE: Text = Text {
    env: "JWT_PUBLIC_KEY_FILE",
    about: "PEM file with the RS256 or ES256 public key of the identity provider",
    default: None,
};
pub const JWT_JWKS_FILE: Text = Text {
    env: "JWT_JWKS_FILE",
    about: "A JWKS file with the identity provider's public keys",
    default: None,
};
pub const JWT_JWKS_URL: Text = Text {
    env: "JWT_JWKS_URL",
    about: "A JWKS URL, fetched when a token names a key not yet known (at most once a minute)",
    default: None,
};
pub const JWT_ISSUER: Text = Text {
    env: "JWT_ISSUER",
    about: "The `iss` JWTs must carry (required when JWTs are accepted)",
    default: None,
};
pub const JWT_AUDIENCE: Text = Text {
    env: "JWT_AUDIENCE",
    about: "The `aud` JWTs must carry (required when JWTs are accepted)",
    default: None,
};
pub const JWT_IDENTITY_CLAIM: Text = Text {
    env: "JWT_IDENTITY_CLAIM",
    about: "The claim that names the caller",
    default: Some("sub"),
};
pub const JWT_LEEWAY_SECS: Number<u64> = Number {
    env: "JWT_LEEWAY_SECS",
    about: "Clock skew allowed on `exp` and `nbf`, in seconds",
    default: 30,
    min: 0,
    max: 600,
};
pub const RATE_LIMIT_PER_MINUTE: Number<u32> = Number {
    env: "RATE_LIMIT_PER_MINUTE",
    about: "Requests per minute per caller (0 turns rate limiting off)",
    default: 120,
    min: 0,
    max: 1_000_000,
};
pub const RATE_LIMIT_BURST: Number<u32> = Number {
    env: "RATE_LIMIT_BURST",
    about: "Requests a caller may make at once before the per-minute rate applies",
    default: 30,
    min: 1,
    max: 1_000_000,
};
pub const REQUEST_TIMEOUT_SECS: Number<u64> = Number {
    env: "REQUEST_TIMEOUT_SECS",
    about: "Longest a request may take, in seconds",
    default: 30,
    min: 1,
    max: 600,
};
pub const CORS_ALLOWED_ORIGINS: Text = Text {
    env: "CORS_ALLOWED_ORIGINS",
    about: "Comma-separated origins allowed to call the API from a browser (default: none)",
    default: None,
};

pub const MODERATOR_URL_IN_ANSWERS: Flag = Flag {
    env: "MODERATOR_URL_IN_ANSWERS",
    about: "Give a meeting's owner its moderator_url in create, read and list answers; false hands out moderator access only through POST /meetings/{id}/links",
    default: true,
};

pub const HEADER_READ_TIMEOUT_SECS: Number<u64> = Number {
    env: "HEADER_READ_TIMEOUT_SECS",
    about: "Seconds a client gets to send a request's headers; also how long an idle keep-alive connection stays open",
    default: 10,
    min: 1,
    max: 600,
};
pub const MAX_CONNECTIONS: Number<usize> = Number {
    env: "MAX_CONNECTIONS",
    about: "Most connections open at once; at the cap, new ones wait to be accepted (keep it below ulimit -n)",
    default: 1024,
    min: 1,
    max: 1_000_000,
};

pub const MAX_CONNECTIONS_PER_ADDRESS: Number<usize> = Number {
    env: "MAX_CONNECTIONS_PER_ADDRESS",
    about: "Most connections one client address may hold at once; more are closed on arrival (behind a proxy, raise it)",
    default: 256,
    min: 1,
    max: 1_000_000,
};

/// Flags and variables for callers' authentication and abuse protection.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    #[arg(long, env = JWT_HS256_SECRET.env, help = JWT_HS256_SECRET.help(), hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,
    #[arg(long, env = JWT_PUBLIC_KEY_FILE.env, help = JWT_PUBLIC_KEY_FILE.help())]
    pub jwt_public_key_file: Option<String>,
    #[arg(long, env = JWT_JWKS_FILE.env, help = JWT_JWKS_FILE.help())]
    pub jwt_jwks_file: Option<String>,
    #[arg(long, env = JWT_JWKS_URL.env, help = JWT_JWKS_URL.help())]
    pub jwt_jwks_url: Option<String>,
    #[arg(long, env = JWT_ISSUER.env, help = JWT_ISSUER.help())]
    pub jwt_issuer: Option<String>,
    #[arg(long, env = JWT_AUDIENCE.env, help = JWT_AUDIENCE.help())]
    pub jwt_audience: Option<String>,
    #[arg(long, env = JWT_IDENTITY_CLAIM.env, help = JWT_IDENTITY_CLAIM.help())]
    pub jwt_identity_claim: Option<String>,
    #[arg(long, env = JWT_LEEWAY_SECS.env, help = JWT_LEEWAY_SECS.help())]
    pub jwt_leeway_secs: Option<String>,
    #[arg(long, env = RATE_LIMIT_PER_MINUTE.env, help = RATE_LIMIT_PER_MINUTE.help())]
    pub rate_limit_per_minute: Option<String>,
    #[arg(long, env = RATE_LIMIT_BURST.env, help = RATE_LIMIT_BURST.help())]
    pub rate_limit_burst: Option<String>,
    #[arg(long, env = REQUEST_TIMEOUT_SECS.env, help = REQUEST_TIMEOUT_SECS.help())]
    pub request_timeout_secs: Option<String>,
    #[arg(long, env = CORS_ALLOWED_ORIGINS.env, help = CORS_ALLOWED_ORIGINS.help())]
    pub cors_allowed_origins: Option<String>,
    #[arg(long, env = MODERATOR_URL_IN_ANSWERS.env, help = MODERATOR_URL_IN_ANSWERS.help())]
    pub moderator_url_in_answers: Option<String>,
    #[arg(long, env = HEADER_READ_TIMEOUT_SECS.env, help = HEADER_READ_TIMEOUT_SECS.help())]
    pub header_read_timeout_secs: Option<String>,
    #[arg(long, env = MAX_CONNECTIONS.env, help = MAX_CONNECTIONS.help())]
    pub max_connections: Option<String>,
    #[arg(long, env = MAX_CONNECTIONS_PER_ADDRESS.env, help = MAX_CONNECTIONS_PER_ADDRESS.help())]
    pub max_connections_per_address: Option<String>,
}

/// Per-caller rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

/// Checked security settings.
#[derive(Debug, Clone)]
pub struct Security {
    pub jwt: Option<JwtSettings>,
    /// `None` turns rate limiting off.
    pub rate_limit: Option<RateLimit>,
    pub request_timeout: Duration,
    pub cors_origins: Vec<String>,
    /// Whether answers carry the owner's moderator URL.
    pub moderator_url_in_answers: bool,
    /// A connection that has not sent a whole request head this long after it opened, or
    /// after its last answer, is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Connections one client address may hold at once.
    pub max_connections_per_address: usize,
}

impl RateLimit {
    /// `None` when `per_minute` is 0 (no limit).
    fn new(per_minute: u32, burst: u32) -> Option<Self> {
        Some(RateLimit {
            per_minute: NonZeroU32::new(per_minute)?,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    }
}

/// The settings' defaults: no JWTs, no browser origins.
impl Default for Security {
    fn default() -> Self {
        Self {
            jwt: None,
            rate_limit: RateLimit::new(RATE_LIMIT_PER_MINUTE.default, RATE_LIMIT_BURST.default),
            request_timeout: REQUEST_TIMEOUT_SECS.default_seconds(),
            cors_origins: Vec::new(),
            moderator_url_in_answers: MODERATOR_URL_IN_ANSWERS.default,
            header_read_timeout: HEADER_READ_TIMEOUT_SECS.default_seconds(),
            max_connections: MAX_CONNECTIONS.default,
            max_connections_per_address: MAX_CONNECTIONS_PER_ADDRESS.default,
        }
    }
}

/// A file named by `setting`, read whole.
fn read_file(setting: &Text, path: String) -> Result<String, ConfigError> {
    std::fs::read_to_string(&path)
        .map_err(|e| setting.problem(format!("cannot read '{path}': {e}")))
}

fn origin(text: &str) -> Result<String, ConfigError> {
    let origin = text.trim().trim_end_matches('/');
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') && !host.contains('*') => {
            Ok(origin.to_ascii_lowercase())
        }
        _ => Err(CORS_ALLOWED_ORIGINS.problem(format!(
            "'{origin}' is not an origin such as https://app.example.com (wildcards are not allowed)"
        ))),
    }
}

impl SecurityArgs {
    /// Checks the settings. JWTs are accepted only when a key source is given, and then an
    /// issuer and an audience are required too.
    pub fn check(self) -> Result<Security, ConfigError> {
        let secret = JWT_HS256_SECRET.read(self.jwt_hs256_secret);
        if secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(JWT_HS256_SECRET.problem("must be at least 32 characters"));
        }
        let pem = JWT_PUBLIC_KEY_FILE
            .read(self.jwt_public_key_file)
            .map(|p| read_file(&JWT_PUBLIC_KEY_FILE, p))
            .transpose()?;
        let jwks = JWT_JWKS_FILE
            .read(self.jwt_jwks_file)
            .map(|p| read_file(&JWT_JWKS_FILE, p))
            .transpose()?;
        let jwks_url = JWT_JWKS_URL.read(self.jwt_jwks_url);
        if let Some(url) = &jwks_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(JWT_JWKS_URL.problem(format!("must be an http(s) URL, got '{url}'")));
        }
        let jwt = if secret.is_none() && pem.is_none() && jwks.is_none() && jwks_url.is_none() {
            None
        } else {
            let when = "when JWTs are accepted";
            Some(JwtSettings {
                hs256_secret: secret.map(SecretString::from),
                public_key_pem: pem,
                jwks,
                jwks_url,
                issuer: JWT_ISSUER.required(self.jwt_issuer, when)?,
                audience: JWT_AUDIENCE.required(self.jwt_audience, when)?,
                identity_claim: JWT_IDENTITY_CLAIM
                    .read(self.jwt_identity_claim)
                    .unwrap_or_default(),
                leeway_secs: JWT_LEEWAY_SECS.read(self.jwt_leeway_secs)?,
            })
        };
        let rate_limit = RateLimit::new(
            RATE_LIMIT_PER_MINUTE.read(self.rate_limit_per_minute)?,
            RATE_LIMIT_BURST.read(self.rate_limit_burst)?,
        );
        let cors_origins = given(self.cors_allowed_origins)
            .map(|list| {
                list.split(',')
                    .filter(|o| !o.trim().is_empty())
                    .map(origin)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Security {
            jwt,
            rate_limit,
            request_timeout: REQUEST_TIMEOUT_SECS.seconds(self.request_timeout_secs)?,
            cors_origins,
            moderator_url_in_answers: MODERATOR_URL_IN_ANSWERS
                .read(self.moderator_url_in_answers)?,
            header_read_timeout: HEADER_READ_TIMEOUT_SECS.seconds(self.header_read_timeout_secs)?,
            max_connections: MAX_CONNECTIONS.read(self.max_connections)?,
            max_connections_per_address: MAX_CONNECTIONS_PER_ADDRESS
                .read(self.max_connections_per_address)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_accept_no_jwt_and_no_origin() {
        let security = SecurityArgs::default().check().expect("valid");
        assert!(security.jwt.is_none());
        assert!(security.cors_origins.is_empty());
        assert_eq!(security.rate_limit.map(|l| l.per_minute.get()), Some(120));
        assert_eq!(security.header_read_timeout, Duration::from_secs(10));
        assert_eq!(security.max_connections, 1024);
    }

    #[test]
    fn connection_limits_are_checked() {
        for (timeout, cap, variable) in [
            ("0", "10", "HEADER_READ_TIMEOUT_SECS"),
            ("5", "0", "MAX_CONNECTIONS"),
            ("5", "many", "MAX_CONNECTIONS"),
        ] {
            let args = SecurityArgs {
                header_read_timeout_secs: Some(timeout.into()),
                max_connections: Some(cap.into()),
                ..Default::default()
            };
            assert_eq!(args.check().map(drop).unwrap_err().variable, variable);
        }
    }

    #[test]
    fn a_jwt_source_needs_issuer_and_audience() {
        let args = SecurityArgs {
            jwt_hs256_secret: Some("x".repeat(32)),
            ..Default::default()
        };
        assert_eq!(
            args.clone().check().map(drop).unwrap_err().variable,
            "JWT_ISSUER"
        );
        let args = SecurityArgs {
            jwt_issuer: Some("https://idp".into()),
            ..args
        };
        assert_eq!(
            args.clone().check().map(drop).unwrap_err().variable,
            "JWT_AUDIENCE"
        );
        let args = SecurityArgs {
            jwt_audience: Some("roomgate".into()),
            ..args
        };
        assert_eq!(
            args.check()
                .expect("valid")
                .jwt
                .expect("jwt")
                .identity_claim,
            "sub"
        );
    }

    #[test]
    fn origins_are_checked_and_zero_turns_the_limit_off() {
        let args = SecurityArgs {
            cors_allowed_origins: Some("https://a.example, http://localhost:3000/".into()),
            rate_limit_per_minute: Some("0".into()),
            ..Default::default()
        };
        let security = args.check().expect("valid");
        assert_eq!(
            security.cors_origins,
            ["https://a.example", "http://localhost:3000"]
        );
        assert_eq!(security.rate_limit, None);
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://a.example/path",
        ] {
            let args = SecurityArgs {
                cors_allowed_origins: Some(bad.into()),
                ..Default::default()
            };
            assert_eq!(
                args.check().map(drop).unwrap_err().variable,
                "CORS_ALLOWED_ORIGINS",
                "{bad}"
            );
        }
    }
}
