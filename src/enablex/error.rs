//! What can go wrong when talking to EnableX, and how EnableX's two error envelopes are read.

use serde_json::Value;
use std::time::Duration;

/// A failed EnableX call. Its `Display` never holds credentials: the client sends them only in
/// the `Authorization` header, and error bodies are cleaned of the app key before they get here.
#[derive(Debug, thiserror::Error)]
pub enum EnableXError {
    /// EnableX answered, and the answer was a refusal: a non-2xx status or `result != 0`.
    #[error("EnableX refused the request (HTTP {status}, code {}): {message}", code.as_deref().unwrap_or("none"))]
    Refused {
        /// The HTTP status EnableX answered with.
        status: u16,
        /// EnableX's own error code (`result` or `error_code`), when it gave one.
        code: Option<String>,
        /// EnableX's description of the problem (`desc`, `error` or `message`).
        message: String,
    },
    /// EnableX answered `429 Too Many Requests`.
    #[error("EnableX is rate limiting roomgate")]
    RateLimited {
        /// How long EnableX asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// No answer within the request timeout.
    #[error("EnableX did not answer in time")]
    Timeout,
    /// No connection could be made: the request was never sent.
    #[error("EnableX could not be reached: {0}")]
    Unreachable(String),
    /// The connection broke after the request may have been sent.
    #[error("the connection to EnableX broke: {0}")]
    Interrupted(String),
    /// Calls are failing fast because EnableX has been failing; nothing was sent.
    #[error("EnableX is failing; calls are paused for {} s", retry_after.as_secs().max(1))]
    CircuitOpen { retry_after: Duration },
    /// EnableX answered with a success status but a body roomgate cannot read.
    #[error("EnableX sent an unreadable answer: {0}")]
    Malformed(String),
}

/// A room update EnableX took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Updated {
    /// An earlier attempt went unanswered (or broke off, or got a 5xx or unreadable answer):
    /// it may still land at EnableX after this one.
    pub after_unknown: bool,
}

/// A room update that failed, and whether EnableX may have taken it all the same.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct UpdateFailed {
    pub error: EnableXError,
    /// Some attempt went unanswered, broke off, or was answered unreadably or with a 5xx.
    pub maybe_taken: bool,
}

impl EnableXError {
    /// EnableX's way of saying the room does not exist: HTTP 404, or the room-not-found code 4001.
    pub fn is_room_not_found(&self) -> bool {
        matches!(self, EnableXError::Refused { status, code, .. }
            if *status == 404 || code.as_deref() == Some("4001"))
    }

    /// Whether the request may have reached EnableX and been acted on even though no clear
    /// answer came back (a create in this state may have made a room).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            EnableXError::Timeout | EnableXError::Malformed(_) | EnableXError::Interrupted(_)
        )
    }

    /// Whether the call may have taken effect at EnableX although it failed: anything but an
    /// answer that refused it (a 4xx, or a failure `result` code), a rate limit, a connection
    /// that was never made, or a call the open circuit kept back.
    pub fn may_have_taken_effect(&self) -> bool {
        !matches!(
            self,
            EnableXError::Refused { status, .. } if *status < 500
        ) && !matches!(
            self,
            EnableXError::RateLimited { .. }
                | EnableXError::Unreachable(_)
                | EnableXError::CircuitOpen { .. }
        )
    }

    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        // reqwest's Display names the URL, never the Authorization header.
        if err.is_timeout() {
            EnableXError::Timeout
        } else if err.is_connect() {
            EnableXError::Unreachable(err.without_url().to_string())
        } else if err.is_decode() {
            EnableXError::Malformed(err.without_url().to_string())
        } else {
            EnableXError::Interrupted(err.without_url().to_string())
        }
    }
}

/// Reads one EnableX answer. Any non-2xx status or any non-zero `result` (a number or a numeric
/// string) is a failure; both the classic `{result, error, desc}` envelope and the newer
/// `{status:"error", error_code, message}` one are understood. On success the parsed JSON is
/// returned for the caller to pick its fields from.
pub fn parse_response(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Value, EnableXError> {
    if status == 429 {
        return Err(EnableXError::RateLimited { retry_after });
    }
    let success = (200..300).contains(&status);
    let json: Value = match serde_json::from_slice(body) {
        Ok(json) => json,
        Err(err) if success => return Err(EnableXError::Malformed(err.to_string())),
        Err(_) => {
            return Err(EnableXError::Refused {
                status,
                code: None,
                message: snippet(body),
            });
        }
    };
    let result_code = json.get("result").and_then(code_text);
    let failed_result = result_code.as_deref().is_some_and(|c| c != "0");
    let generic_error = json.get("status").and_then(Value::as_str) == Some("error");
    if success && !failed_result && !generic_error {
        return Ok(json);
    }
    let code = if failed_result {
        result_code
    } else {
        json.get("error_code").and_then(code_text)
    };
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
    let message = match (text("error"), text("desc").or_else(|| text("message"))) {
        (Some(short), Some(long)) if short != long => format!("{short}: {long}"),
        (_, Some(long)) => long,
        (Some(short), None) => short,
        (None, None) => format!("HTTP {status}"),
    };
    Err(EnableXError::Refused {
        status,
        code,
        message,
    })
}

/// A code given as a JSON number or as a string of one.
fn code_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// The start of an unreadable body, for the log and the error detail.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, body: &str) -> (u16, Option<String>, String) {
        match parse_response(status, None, body.as_bytes()) {
            Err(EnableXError::Refused {
                status,
                code,
                message,
            }) => (status, code, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_zero_result_is_success() {
        let json =
            parse_response(200, None, br#"{"result":0,"room":{"room_id":"r1"}}"#).expect("success");
        assert_eq!(json["room"]["room_id"], "r1");
    }

    #[test]
    fn a_zero_result_given_as_a_string_is_success() {
        assert!(parse_response(200, None, br#"{"result":"0"}"#).is_ok());
    }

    #[test]
    fn a_non_zero_result_with_http_200_is_a_failure() {
        let (status, code, message) = refused(
            200,
            r#"{"result":10002,"error":"Invalid Name","desc":"Room name is missing"}"#,
        );
        assert_eq!(status, 200);
        assert_eq!(code.as_deref(), Some("10002"));
        assert_eq!(message, "Invalid Name: Room name is missing");
    }

    #[test]
    fn a_numeric_string_result_is_read_as_a_code() {
        let (_, code, message) = refused(400, r#"{"result":"10005","desc":"bad time"}"#);
        assert_eq!(code.as_deref(), Some("10005"));
        assert_eq!(message, "bad time");
    }

    #[test]
    fn the_generic_error_envelope_is_understood() {
        let (status, code, message) = refused(
            403,
            r#"{"status":"error","error_code":"AUTH_403","message":"Forbidden","request_id":"x"}"#,
        );
        assert_eq!(status, 403);
        assert_eq!(code.as_deref(), Some("AUTH_403"));
        assert_eq!(message, "Forbidden");
    }

    #[test]
    fn a_non_2xx_status_is_a_failure_even_with_result_zero() {
        let (status, code, _) = refused(500, r#"{"result":0}"#);
        assert_eq!(status, 500);
        assert_eq!(code, None);
    }

    #[test]
    fn a_non_json_error_body_keeps_its_text() {
        let (status, code, message) = refused(502, "<html>Bad gateway</html>");
        assert_eq!((status, code), (502, None));
        assert_eq!(message, "<html>Bad gateway</html>");
    }

    #[test]
    fn an_unreadable_success_body_is_malformed() {
        assert!(matches!(
            parse_response(200, None, b"{\"result\":0,"),
            Err(EnableXError::Malformed(_))
        ));
    }

    #[test]
    fn too_many_requests_carries_retry_after() {
        let err = parse_response(429, Some(Duration::from_secs(7)), b"{}").unwrap_err();
        assert!(
            matches!(err, EnableXError::RateLimited { retry_after: Some(d) } if d.as_secs() == 7)
        );
    }

    #[test]
    fn room_not_found_is_recognised_by_status_or_code() {
        let by_code = parse_response(200, None, br#"{"result":4001,"desc":"Room not found"}"#);
        assert!(by_code.unwrap_err().is_room_not_found());
        let by_status = parse_response(404, None, br#"{"result":1,"desc":"nope"}"#);
        assert!(by_status.unwrap_err().is_room_not_found());
    }
}
