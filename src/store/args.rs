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
    /// `jsonb` in PostgreSQL, JSON text in SQLite; kept as the text it will be sent as.
    Json(Box<serde_json::value::RawValue>),
    /// One column of a group of rows, bound as one PostgreSQL array (`uuid[]`, `text[]`, …, by
    /// the kind of its values, which are all of one kind). Only [`Statement::rows`] makes it,
    /// and only for PostgreSQL.
    Column(Vec<Arg>),
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

    /// Rows of values as a table expression, each row's values in column order. SQLite:
    /// `VALUES ($1, $2), ($3, $4)`. PostgreSQL: one array per column,
    /// `SELECT * FROM UNNEST($1, $2)`, so that the statement's text is the same however many
    /// rows there are: prepared once per connection, its plan reused, where a `VALUES` list
    /// would be a new statement for every group size (and push others out of the cache).
    ///
    /// The `LIMIT $n` (n: the number of rows, so it changes nothing) is there for the plan.
    /// PostgreSQL plans a prepared statement afresh for its first five runs, then keeps a
    /// generic plan only if that looks no dearer than the fresh ones did; a generic plan
    /// guesses an array parameter holds 10 elements, so next to the fresh plans of the 1 to 5
    /// rows a group usually has it always looked dearer, and every run was planned again (a
    /// sixth of PostgreSQL's CPU when reading by id). A generic plan takes a limit parameter
    /// for a tenth of its input, one row here, so the generic plan wins and is kept. The plans
    /// are the same either way: a lookup by primary key per row.
    pub(super) fn rows(&mut self, postgres: bool, rows: Vec<Vec<Arg>>) -> &mut Self {
        if postgres {
            let width = rows.first().map_or(0, Vec::len);
            let count = rows.len();
            let mut columns: Vec<Vec<Arg>> =
                (0..width).map(|_| Vec::with_capacity(count)).collect();
            for row in rows {
                for (column, value) in columns.iter_mut().zip(row) {
                    column.push(value);
                }
            }
            self.push("SELECT * FROM UNNEST(");
            for (i, column) in columns.into_iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.bind(Arg::Column(column));
            }
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            return self.push(") LIMIT ").bind(count);
        }
        self.push("VALUES ");
        for (i, row) in rows.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            for (j, value) in row.into_iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(value);
            }
            self.push(")");
        }
        self
    }
}
