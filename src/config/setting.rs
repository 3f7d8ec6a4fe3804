//! What a setting is: its environment variable, what it means, its default and its range, in
//! one value. The clap attribute (`env = X.env, help = X.help()`), the check (`X.read(..)`) and
//! the `Default` impls (`X.default`) all take them from there, so each is written once.

use super::{ConfigError, problem};
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A whole number in `min..=max`, `default` when not set.
pub struct Number<T: 'static> {
    pub env: &'static str,
    pub about: &'static str,
    pub default: T,
    pub min: T,
    pub max: T,
}

/// A whole number in `min..=max` whose default is worked out from other settings (said in
/// `about`).
pub struct OptionalNumber<T: 'static> {
    pub env: &'static str,
    pub about: &'static str,
    pub min: T,
    pub max: T,
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`).
pub struct Flag {
    pub env: &'static str,
    pub about: &'static str,
    pub default: bool,
}

/// Free text, checked where it is used; `None` when there is no default.
pub struct Text {
    pub env: &'static str,
    pub about: &'static str,
    pub default: Option<&'static str>,
}

/// A set, non-blank value.
pub fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn in_range<T>(env: &'static str, text: String, min: T, max: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    text.parse::<T>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            problem(
                env,
                format!("must be a whole number from {min} to {max}, got '{text}'"),
            )
        })
}

impl<T: FromStr + PartialOrd + Display + Copy> Number<T> {
    /// The value, or the default when not set.
    pub fn read(&self, value: Option<String>) -> Result<T, ConfigError> {
        match given(value) {
            None => Ok(self.default),
            Some(text) => in_range(self.env, text, self.min, self.max),
        }
    }

    /// Help for the command line.
    pub fn help(&self) -> String {
        format!(
            "{} [default: {}] [range: {} to {}]",
            self.about, self.default, self.min, self.max
        )
    }
}

impl Number<u64> {
    /// The value as seconds.
    pub fn seconds(&self, value: Option<String>) -> Result<Duration, ConfigError> {
        self.read(value).map(Duration::from_secs)
    }

    /// The default as seconds.
    pub const fn default_seconds(&self) -> Duration {
        Duration::from_secs(self.default)
    }
}

impl<T: FromStr + PartialOrd + Display + Copy> OptionalNumber<T> {
    /// The value, or `None` when not set.
    pub fn read(&self, value: Option<String>) -> Result<Option<T>, ConfigError> {
        given(value)
            .map(|text| in_range(self.env, text, self.min, self.max))
            .transpose()
    }

    /// Help for the command line.
    pub fn help(&self) -> String {
        format!("{} [range: {} to {}]", self.about, self.min, self.max)
    }
}

impl Flag {
    /// The value, or the default when not set.
    pub fn read(&self, value: Option<String>) -> Result<bool, ConfigError> {
        match given(value).as_deref() {
            None => Ok(self.default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(problem(
                self.env,
                format!("must be true or false, got '{other}'"),
            )),
        }
    }

    /// Help for the command line.
    pub fn help(&self) -> String {
        format!("{} [default: {}]", self.about, self.default)
    }
}

impl Text {
    /// The value, or the default (if any) when not set.
    pub fn read(&self, value: Option<String>) -> Option<String> {
        given(value).or_else(|| self.default.map(str::to_owned))
    }

    /// The value, or "is required `when`", naming the variable.
    pub fn required(&self, value: Option<String>, when: &str) -> Result<String, ConfigError> {
        self.read(value)
            .ok_or_else(|| problem(self.env, format!("is required {when}")))
    }

    /// Help for the command line.
    pub fn help(&self) -> String {
        match self.default {
            Some(default) => format!("{} [default: {default}]", self.about),
            None => self.about.to_owned(),
        }
    }

    /// An error about this setting's value.
    pub fn problem(&self, message: impl Into<String>) -> ConfigError {
        problem(self.env, message)
    }
}

/// An http(s) URL without a trailing slash.
pub fn http_url(setting: &Text, text: String) -> Result<String, ConfigError> {
    let lower = text.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || text.len() < 10 {
        return Err(setting.problem(format!("must be an http(s) URL, got '{text}'")));
    }
    Ok(text.trim_end_matches('/').to_owned())
}
