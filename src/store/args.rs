//! What SQL is bound with: [`Arg`], a value for one `$n` placeholder, and [`Statement`], SQL
//! built a piece at a time with its values.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A value bound to a `$n` placeholder. Each backend maps it to its own column type.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    /// `uuid` in PostgreSQL, hyphenated text in SQLite.
    Id(Uuid),
    /// `timestamptz` in PostgreSQL, fixed-width UTC text in SQLite.
    Time(Option<DateTime<Utc>>),
    /// `jsonb` in PostgreSQL, JSON text in SQLite.
    Json(serde_json::Value),
}

impl From<&str> for Arg {
    fn from(text: &str) -> Self {
        Arg::Text(Some(text.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(text: String) -> Self {
        Arg::Text(Some(text))
    }
}
impl From<Option<String>> for Arg {
    fn from(text: Option<String>) -> Self {
        Arg::Text(text)
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(Some(n))
    }
}
impl From<Option<i64>> for Arg {
    fn from(n: Option<i64>) -> Self {
        Arg::Int(n)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Self {
        Arg::Bool(b)
    }
}
impl From<Uuid> for Arg {
    fn from(id: Uuid) -> Self {
        Arg::Id(id)
    }
}
impl From<DateTime<Utc>> for Arg {
    fn from(t: DateTime<Utc>) -> Self {
        Arg::Time(Some(t))
    }
}
impl From<Option<DateTime<Utc>>> for Arg {
    fn from(t: Option<DateTime<Utc>>) -> Self {
        Arg::Time(t)
    }
}

/// Builds a statement with `$n` placeholders and the values bound to them.
#[derive(Debug, Default)]
pub(super) struct Statement {
    pub(super) sql: String,
    pub(super) args: Vec<Arg>,
}

impl Statement {
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    pub(super) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.args.push(arg.into());
        self.sql.push_str(&format!("${}", self.args.len()));
        self
    }
}
