//! Extractors that turn every kind of bad input into the same problem+json shape.

use super::error::ApiError;
use crate::meetings::FieldError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Largest request body roomgate reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body. Broken JSON is `400`; JSON of the wrong shape (a wrong type, an unknown or
/// missing field) is `422` naming the field; a body that is not JSON is `415`; one larger
/// than the limit is `413`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::Malformed(format!("the request body could not be read: {rejection}"))
            }
        })?;
        reject_repeated_keys(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// JSON allows an object to name a key twice and serde_json keeps the last silently, so
/// `{"name": "a", "name": "b"}` would be taken for `"b"`, and a body hashed for an idempotency
/// key would hide what the caller sent. A key repeated in any object is `422`, naming it.
/// Broken JSON is left to [`parse_json`], which says where it broke.
fn reject_repeated_keys(bytes: &[u8]) -> Result<(), ApiError> {
    let repeated = std::cell::Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let checked = serde::de::DeserializeSeed::deserialize(
        UniqueKeys {
            at: Step::Root,
            repeated: &repeated,
        },
        &mut deserializer,
    );
    match (checked, repeated.take()) {
        (Err(_), Some(path)) => Err(ApiError::Validation(vec![FieldError::new(
            path,
            "is given more than once; name each key once",
        )])),
        _ => Ok(()),
    }
}

/// Walks any JSON value, stopping at the first object that names a key twice (its path kept
/// in `repeated`). The path is a chain of borrowed steps, written out only for a repeat, so
/// walking costs no copying however deep or wide the body is.
struct UniqueKeys<'a> {
    at: Step<'a>,
    repeated: &'a std::cell::Cell<Option<String>>,
}

/// Where a value sits in the body.
#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a Step<'a>, &'a str),
    Index(&'a Step<'a>, usize),
}

impl Step<'_> {
    fn write(&self, out: &mut String) {
        match self {
            Step::Root => {}
            Step::Key(parent, key) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Index(parent, index) => {
                parent.write(out);
                out.push_str(&format!("[{index}]"));
            }
        }
    }

    /// The path as errors name fields (`settings.quality`), cut to 64 characters; `body`
    /// for the top level.
    fn named(&self) -> String {
        let mut path = String::new();
        self.write(&mut path);
        match path.as_str() {
            "" => "body".to_owned(),
            _ => truncate(&path),
        }
    }
}

impl<'a> UniqueKeys<'a> {
    fn at<'b>(&'b self, at: Step<'b>) -> UniqueKeys<'b>
    where
        'a: 'b,
    {
        UniqueKeys {
            at,
            repeated: self.repeated,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while items
            .next_element_seed(self.at(Step::Index(&self.at, index)))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = entries.next_key::<String>()? {
            if seen.contains(&key) {
                self.repeated.set(Some(Step::Key(&self.at, &key).named()));
                return Err(serde::de::Error::custom("a key is repeated"));
            }
            entries.next_value_seed(self.at(Step::Key(&self.at, &key)))?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// A JSON body as [`ApiJson`] reads it, with a SHA-256 of its canonical form (keys sorted, no
/// white space), so two requests can be compared whatever their formatting.
pub struct HashedJson<T>(pub T, pub String);

impl<S, T> FromRequest<S> for HashedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ApiJson(value) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        let canonical = value.to_string();
        let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        let parsed = parse_json::<T>(canonical.as_bytes())?;
        Ok(HashedJson(parsed, hash))
    }
}

/// Reads JSON, naming the path of the first value that does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                ApiError::Validation(vec![FieldError::new(field, clean_serde_message(&inner))])
            }
            _ => ApiError::Malformed(format!("the request body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::Malformed(format!("the request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde's message without its " at line 1 column 9" suffix, which means nothing to callers
/// once the field is named.
fn clean_serde_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => text.as_str(),
    };
    text.replace("expected i64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
}

/// Query parameters, with unknown or repeated parameters refused (`422`).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|err| {
                let message = err.inner().to_string();
                // serde names the offending parameter in its message; the path is empty for
                // unknown or duplicate keys.
                let field = match err.path().to_string() {
                    p if p == "." => "query".to_owned(),
                    p => p,
                };
                ApiError::field(&field, message)
            })
    }
}

/// A meeting id from the path. Anything that is not a UUID names no meeting: `404`.
pub fn meeting_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::NotFound(format!("no meeting has the id '{}'", truncate(text))))
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}
