//! The web console at `/`: a page, its stylesheet and its scripts, embedded in the binary and
//! served with a Content-Security-Policy strict enough that only these files run and only the
//! embed origins can be framed.
//!
//! The console calls the public API like any front-end (bearer credential, JSON, problem
//! answers); it has no route of its own besides its files, so it can do nothing a caller
//! could not do with curl.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The console's files: the path each is served at, its content type and its text.
const FILES: [(&str, &str, &str); 5] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("console/index.html"),
    ),
    (
        "/console/console.css",
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    ),
    (
        "/console/api.js",
        "text/javascript; charset=utf-8",
        include_str!("console/api.js"),
    ),
    (
        "/console/meeting.js",
        "text/javascript; charset=utf-8",
        include_str!("console/meeting.js"),
    ),
    (
        "/console/console.js",
        "text/javascript; charset=utf-8",
        include_str!("console/console.js"),
    ),
];

/// The policy for the console's responses. Scripts, styles and API calls come from this
/// origin only (no inline code, so an injected `<script>` does nothing); frames only from
/// `embed_origins`, where EnableX (or the sandbox) serves the rooms; and no other site may
/// frame the console.
pub fn content_security_policy(embed_origins: &[&str]) -> String {
    let frames = if embed_origins.is_empty() {
        "'none'".to_owned()
    } else {
        embed_origins.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; frame-src {frames}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// The console's routes, each answering with `policy` as its Content-Security-Policy.
pub fn router<S: Clone + Send + Sync + 'static>(policy: &str) -> Router<S> {
    let policy = HeaderValue::from_str(policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    FILES
        .into_iter()
        .fold(Router::new(), |router, (path, content_type, text)| {
            let policy = policy.clone();
            router.route(
                path,
                get(move || async move { file(content_type, text, policy) }),
            )
        })
}

fn file(content_type: &'static str, text: &'static str, policy: HeaderValue) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, policy),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
        ],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::content_security_policy;

    #[test]
    fn the_policy_frames_only_the_embed_origins_and_runs_no_inline_code() {
        let policy =
            content_security_policy(&["https://acme.yourvideo.app", "https://acme.yourvideo.live"]);
        assert!(
            policy.contains("frame-src https://acme.yourvideo.app https://acme.yourvideo.live;")
        );
        assert!(policy.contains("script-src 'self';") && !policy.contains("unsafe-inline"));
        assert!(content_security_policy(&[]).contains("frame-src 'none';"));
    }
}
