//! Settings for who may call roomgate and how much: JWT verification, rate limits, request
//! time limits, connection limits and CORS.

use super::{ConfigError, given, number, problem};
use crate::auth::JwtSettings;
use clap::Args;
use secrecy::SecretString;
use std::num::NonZeroU32;
use std::time::Duration;

/// Flags and variables for callers' authentication and abuse protection.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// Shared secret for HS256 JWTs.
    #[arg(long, env = "JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,
    /// PEM file with the RS256 or ES256 public key of the identity provider.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<String>,
    /// A JWKS file with the identity provider's public keys.
    #[arg(long, env = "JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<String>,
    /// A JWKS URL, fetched when a token names a key not yet known (at most once a minute).
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The claim that names the caller (default `sub`).
    #[arg(long, env = "JWT_IDENTITY_CLAIM")]
    pub jwt_identity_claim: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30).
    #[arg(long, env = "JWT_LEEWAY_SECS")]
    pub jwt_leeway_secs: Option<String>,
    /// Requests per minute per caller (default 120; 0 turns rate limiting off).
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<String>,
    /// Requests a caller may make at once before the per-minute rate applies (default 30).
    #[arg(long, env = "RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<String>,
    /// Longest a request may take, in seconds (default 30).
    #[arg(long, env = "REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<String>,
    /// Comma-separated origins allowed to call the API from a browser (default: none).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS")]
    pub cors_allowed_origins: Option<String>,
    /// Longest a client may take to send a request's headers, and longest an idle
    /// keep-alive connection stays open, in seconds (default 10).
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<String>,
    /// Most connections open at once; at the cap, new ones wait to be accepted (default 1024).
    #[arg(long, env = "MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
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
    /// A connection that has not sent a whole request head this long after it opened, or
    /// after its last answer, is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            jwt: None,
            rate_limit: Some(RateLimit {
                per_minute: NonZeroU32::new(120).unwrap_or(NonZeroU32::MIN),
                burst: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            }),
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

fn read_file(variable: &'static str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| problem(variable, format!("cannot read '{path}': {e}")))
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
        _ => Err(problem(
            "CORS_ALLOWED_ORIGINS",
            format!(
                "'{origin}' is not an origin such as https://app.example.com (wildcards are not allowed)"
            ),
        )),
    }
}

impl SecurityArgs {
    /// Checks the settings. JWTs are accepted only when a key source is given, and then an
    /// issuer and an audience are required too.
    pub fn check(self) -> Result<Security, ConfigError> {
        let defaults = Security::default();
        let secret = given(self.jwt_hs256_secret);
        if secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(problem(
                "JWT_HS256_SECRET",
                "must be at least 32 characters",
            ));
        }
        let pem = given(self.jwt_public_key_file)
            .map(|p| read_file("JWT_PUBLIC_KEY_FILE", &p))
            .transpose()?;
        let jwks = given(self.jwt_jwks_file)
            .map(|p| read_file("JWT_JWKS_FILE", &p))
            .transpose()?;
        let jwks_url = given(self.jwt_jwks_url);
        if let Some(url) = &jwks_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(problem(
                "JWT_JWKS_URL",
                format!("must be an http(s) URL, got '{url}'"),
            ));
        }
        let jwt = if secret.is_none() && pem.is_none() && jwks.is_none() && jwks_url.is_none() {
            None
        } else {
            let required = |variable: &'static str, value: Option<String>| {
                given(value).ok_or_else(|| problem(variable, "is required when JWTs are accepted"))
            };
            Some(JwtSettings {
                hs256_secret: secret.map(SecretString::from),
                public_key_pem: pem,
                jwks,
                jwks_url,
                issuer: required("JWT_ISSUER", self.jwt_issuer)?,
                audience: required("JWT_AUDIENCE", self.jwt_audience)?,
                identity_claim: given(self.jwt_identity_claim).unwrap_or_else(|| "sub".into()),
                leeway_secs: number::<u64>("JWT_LEEWAY_SECS", self.jwt_leeway_secs, 30, 0, 600)?,
            })
        };
        let default_limit = defaults.rate_limit.map_or(120, |l| l.per_minute.get());
        let per_minute = number(
            "RATE_LIMIT_PER_MINUTE",
            self.rate_limit_per_minute,
            default_limit,
            0,
            1_000_000,
        )?;
        let burst = number("RATE_LIMIT_BURST", self.rate_limit_burst, 30, 1, 1_000_000)?;
        let rate_limit = NonZeroU32::new(per_minute).map(|per_minute| RateLimit {
            per_minute,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        });
        let timeout = number::<u64>(
            "REQUEST_TIMEOUT_SECS",
            self.request_timeout_secs,
            30,
            1,
            600,
        )?;
        let cors_origins = given(self.cors_allowed_origins)
            .map(|list| {
                list.split(',')
                    .filter(|o| !o.trim().is_empty())
                    .map(origin)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let header_read_timeout = number::<u64>(
            "HEADER_READ_TIMEOUT_SECS",
            self.header_read_timeout_secs,
            defaults.header_read_timeout.as_secs(),
            1,
            600,
        )?;
        let max_connections = number(
            "MAX_CONNECTIONS",
            self.max_connections,
            defaults.max_connections,
            1,
            1_000_000,
        )?;
        Ok(Security {
            jwt,
            rate_limit,
            request_timeout: Duration::from_secs(timeout),
            cors_origins,
            header_read_timeout: Duration::from_secs(header_read_timeout),
            max_connections,
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
