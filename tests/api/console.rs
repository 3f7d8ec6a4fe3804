//! The web console at `/`, used in a real browser: headless Chromium, driven through
//! chromedriver, against roomgate in sandbox mode. Everything happens through the page; the
//! API is called directly only to check what the page did.

use crate::browser::{Browser, Page, screenshot_dir};
use crate::common::{Backend, TestApp, client_with_key, create_key, spawn_app_with};
use fantoccini::Locator;
use roomgate::config::{Config, EmbedTarget};
use serde_json::{Value, json};

/// The zone the browser runs in: far from UTC and with a half-hour offset, so a start time
/// sent without its offset, or with the wrong one, shows.
const ZONE: &str = "Asia/Kolkata";
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_creates_finds_opens_previews_and_deletes_a_meeting_in_the_console() {
    let Some(browser) = Browser::start(ZONE).await else {
        eprintln!(
            "SKIPPED: chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver); the console's browser test did not run"
        );
        return;
    };
    let app = spawn_app_with(Backend::Sqlite, |config| Config {
        sandbox: true,
        embed: EmbedTarget::Sandbox,
        ..config
    })
    .await
    .expect("sqlite");
    let key = create_key(&app.database_url, "console-admin", true).await;
    // The scenario runs in a task of its own, so that a failure still ends the browser.
    let page = browser.page.clone();
    let scenario = tokio::spawn(async move { scenario(&page, &app, &key).await }).await;
    browser.close().await;
    if let Err(failure) = scenario {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn scenario(browser: &Page, app: &TestApp, key: &str) {
    let api = client_with_key(key);
    let name = format!(
        "Console sync {}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );

    // Signing in, with the keyboard alone: the page puts focus on its heading, Tab reaches
    // the credential field, Enter submits.
    browser.client.goto(&app.url("/")).await.expect("open /");
    browser.shown("signin-token").await;
    browser.keys("\u{E004}").await;
    assert_eq!(browser.focused_id().await, "signin-token");
    browser.keys(&format!("{key}\u{E007}")).await;
    browser
        .text_where("who-identity", |t| t == "key:console-admin")
        .await;
    assert_eq!(
        browser.shown("who-role").await.text().await.expect("role"),
        "ADMIN"
    );
    assert_eq!(
        browser.session_value("roomgate.credential").await,
        key,
        "kept in session storage"
    );

    // A scheduled meeting with no start: the API's own words, next to the start field.
    browser
        .link("New meeting")
        .await
        .click()
        .await
        .expect("nav");
    browser.type_into("c-name", &name).await;
    browser.select("c-kind", "scheduled").await;
    browser.click("create-submit").await;
    let shown = browser
        .text_where("c-starts-error", |t| !t.is_empty())
        .await;
    let answer = api
        .post(app.url("/meetings"))
        .json(
            &json!({"name": name, "kind": "scheduled", "duration_minutes": 30,
                      "settings": {"mode": "group"}}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(answer.status(), 422);
    let problem: Value = answer.json().await.expect("problem");
    let said = problem["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["field"] == "starts_at"))
        .expect("a starts_at error");
    assert_eq!(shown, said["message"].as_str().expect("message"));
    let field = browser.shown("c-starts").await;
    assert_eq!(
        field.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true")
    );
    browser
        .text_where("create-form", |t| t.contains("Validation failed"))
        .await;
    browser
        .screenshot("create-error-phone", PHONE.0, PHONE.1)
        .await;
    browser
        .screenshot("create-error-desktop", DESKTOP.0, DESKTOP.1)
        .await;

    // The start is picked in the browser's zone and sent with its offset. (A native date
    // picker's typing order depends on the locale, so the value is set as a picker sets it.)
    browser.pick_datetime("c-starts", "2030-12-01T10:30").await;
    browser
        .text_where("c-starts-sent", |t| t.contains("2030-12-01T10:30:00+05:30"))
        .await;
    browser.click("create-submit").await;
    let fragment = browser
        .fragment_where(|f| f.starts_with("/meetings/"))
        .await;
    let id = fragment.trim_start_matches("/meetings/").to_owned();
    browser.text_where("m-title", |t| t == name).await;
    let stored: Value = api
        .get(app.url(&format!("/meetings/{id}")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        stored["starts_at"], "2030-12-01T05:00:00Z",
        "sent with +05:30"
    );
    let starts = browser.text_where("m-starts", |t| !t.is_empty()).await;
    assert!(
        // ICU may name the zone by its older alias, Asia/Calcutta.
        starts.contains("10:30 AM (Asia/") && starts.contains("5:00 AM UTC"),
        "{starts}"
    );

    // Found in the list, filtered to scheduled meetings, and opened from there.
    browser
        .link("All meetings")
        .await
        .click()
        .await
        .expect("back");
    browser.select("f-kind", "scheduled").await;
    browser.click("filter-apply").await;
    browser
        .text_where("list-summary", |t| t.contains("1 meeting on page 1"))
        .await;
    browser
        .text_where("meeting-list", |t| t.contains("SCHEDULED"))
        .await;
    browser.screenshot("list-phone", PHONE.0, PHONE.1).await;
    browser
        .screenshot("list-desktop", DESKTOP.0, DESKTOP.1)
        .await;
    browser.link(&name).await.click().await.expect("open");
    browser.text_where("m-title", |t| t == name).await;
    browser.screenshot("meeting-phone", PHONE.0, PHONE.1).await;
    browser
        .screenshot("meeting-desktop", DESKTOP.0, DESKTOP.1)
        .await;

    // Both URLs, read from the page, are the API's.
    let participant = browser.value("m-participant-url").await;
    let moderator = browser.value("m-moderator-url").await;
    assert_eq!(
        participant,
        stored["participant_url"].as_str().expect("url")
    );
    assert_eq!(moderator, stored["moderator_url"].as_str().expect("url"));
    assert!(moderator.contains("/host/"), "{moderator}");

    // The policy the console is served with lets exactly this embed origin be framed.
    let origin = participant.rsplit_once('/').expect("origin").0.to_owned();
    let page = reqwest::get(app.url("/")).await.expect("page");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(policy.contains(&format!("frame-src {origin};")), "{policy}");
    assert!(policy.contains("script-src 'self';") && !policy.contains("unsafe-inline"));

    // A personal link, made through the API by the page.
    browser.type_into("l-name", "Ana").await;
    browser.click("l-skip-landing").await;
    browser.click("link-submit").await;
    browser.shown("link-url").await;
    let link = browser.value("link-url").await;
    assert!(
        link.starts_with(&format!("{participant}?")) && link.contains("name=Ana"),
        "{link}"
    );
    assert!(link.contains("landing=no"), "{link}");

    // The preview frames the sandbox's room page, with the permissions EnableX asks for.
    browser.click("preview-open").await;
    let frame = browser.shown("preview-frame").await;
    assert_eq!(
        frame.attr("allow").await.expect("attr").as_deref(),
        Some("camera; microphone; fullscreen; speaker; display-capture")
    );
    let inside = browser.frame_text("preview-frame", "Simulated room").await;
    assert!(
        inside.contains(&name) && inside.contains("participant"),
        "{inside}"
    );
    browser.click("link-preview").await;
    let inside = browser.frame_text("preview-frame", "named Ana").await;
    assert!(inside.contains(&name), "{inside}");
    browser
        .screenshot("meeting-preview-desktop", DESKTOP.0, DESKTOP.1)
        .await;

    // Deleting asks first; then the meeting is gone from the list and deleted in the API.
    browser.click("delete-start").await;
    browser
        .text_where("delete-question", |t| t.contains(&name))
        .await;
    browser.click("delete-yes").await;
    browser.fragment_where(|f| f == "/meetings").await;
    browser
        .text_where("notice", |t| t.contains("Deleted"))
        .await;
    browser
        .text_where("list-summary", |t| t.starts_with("No meetings on page 1"))
        .await;
    let listed = browser
        .client
        .find(Locator::Id("meeting-list"))
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(!listed.contains(&name), "{listed}");
    let after: Value = api
        .get(app.url(&format!("/meetings/{id}")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(after["status"], "deleted");
    eprintln!("console screenshots in {}", screenshot_dir().display());
}
