//! Headless Chromium driven through chromedriver (WebDriver), for tests of the console.
//!
//! Debian's `chromium` and `chromium-driver` packages; where either is missing, [`Browser::start`]
//! says so and returns `None`, and the calling test prints that it is skipped.

use crate::common::TempDir;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the page gets to reach a state the test waits for.
const PATIENCE: Duration = Duration::from_secs(15);

/// The flags every browser of the test suite runs with (see the /docs check too).
pub const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A chromedriver process with one Chromium session. [`Browser::close`] ends the session
/// (Chromium quits) and then chromedriver; dropped without it (a failed start), chromedriver
/// is still ended.
pub struct Browser {
    pub page: Page,
    driver: Driver,
    _profile: TempDir,
}

/// The chromedriver process, ended when dropped (even if the test failed before a session).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The session's window, with the waits and gestures the tests use.
#[derive(Clone)]
pub struct Page {
    pub client: Client,
}

impl Browser {
    /// Chromium in `time_zone` at 1280x800, or `None` (said on stderr) when Chromium or
    /// chromedriver is not installed.
    pub async fn start(time_zone: &str) -> Option<Self> {
        let (Ok(chromium), Ok(chromedriver)) = (which("chromium"), which("chromedriver")) else {
            return None;
        };
        let profile = TempDir::new("roomgate-console-chromium");
        let (driver, port) = start_driver(&chromedriver, time_zone).await;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(["--window-size=1280,800".into(), "--lang=en-US".into()]);
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Some(Self {
            page: Page { client },
            driver,
            _profile: profile,
        })
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = self.page.client.clone().close().await;
        drop(self.driver);
    }
}

impl Page {
    /// Sends keys to whatever has the focus (`\u{E004}` is Tab, `\u{E007}` Enter).
    pub async fn keys(&self, keys: &str) {
        let focused = self.client.active_element().await.expect("focus");
        focused.send_keys(keys).await.expect("keys");
    }

    /// The id of the element that has the focus.
    pub async fn focused_id(&self) -> String {
        let focused = self.client.active_element().await.expect("focus");
        focused.attr("id").await.expect("id").unwrap_or_default()
    }

    /// A value in the page's session storage.
    pub async fn session_value(&self, key: &str) -> String {
        let value = self
            .client
            .execute(
                "return sessionStorage.getItem(arguments[0])",
                vec![json!(key)],
            )
            .await
            .expect("session storage");
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Chooses the option with `value` in the select with `id`.
    pub async fn select(&self, id: &str, value: &str) {
        let select = self.shown(id).await;
        select.select_by_value(value).await.expect("select");
    }

    /// Sets a `datetime-local` input as its picker would, with `input` and `change` events.
    pub async fn pick_datetime(&self, id: &str, local: &str) {
        self.shown(id).await;
        self.client
            .execute(
                "const f = document.getElementById(arguments[0]); f.value = arguments[1]; \
                 f.dispatchEvent(new Event('input', {bubbles: true})); \
                 f.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![json!(id), json!(local)],
            )
            .await
            .expect("set the date");
    }

    /// Waits until the document in the frame `#id` shows `needle`; returns its text. The
    /// focus of the driver is back on the page afterwards.
    pub async fn frame_text(&self, id: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let frame = self.shown(id).await;
            frame.enter_frame().await.expect("enter the frame");
            let text = match self.client.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            self.client
                .enter_parent_frame()
                .await
                .expect("leave the frame");
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "the frame never showed {needle:?}; last: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the element with `id` to be displayed.
    pub async fn shown(&self, id: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(element) = self.client.find(Locator::Id(id)).await
                && element.is_displayed().await.unwrap_or(false)
            {
                return element;
            }
            assert!(Instant::now() < deadline, "#{id} never showed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the text of `#id` satisfies `ok`; returns it.
    pub async fn text_where(&self, id: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = match self.client.find(Locator::Id(id)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "#{id} never had the expected text; last: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page's URL fragment satisfies `ok`; returns it.
    pub async fn fragment_where(&self, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = self.client.current_url().await.expect("url");
            let fragment = url.fragment().unwrap_or_default().to_owned();
            if ok(&fragment) {
                return fragment;
            }
            assert!(
                Instant::now() < deadline,
                "the page never reached the expected #{fragment}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a link whose text is `text` and returns it.
    pub async fn link(&self, text: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(link) = self.client.find(Locator::LinkText(text)).await {
                return link;
            }
            assert!(Instant::now() < deadline, "no link {text:?} appeared");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A form control's current value.
    pub async fn value(&self, id: &str) -> String {
        let element = self.client.find(Locator::Id(id)).await.expect(id);
        element
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Clicks the element with `id` once it is displayed.
    pub async fn click(&self, id: &str) {
        self.shown(id).await.click().await.expect(id);
    }

    /// Types `text` into the field with `id` (after clearing it).
    pub async fn type_into(&self, id: &str, text: &str) {
        let field = self.shown(id).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Saves what the page shows in a `width` x `height` viewport as `NAME.png` under
    /// `target/console-screenshots/`; the window keeps that size.
    pub async fn screenshot(&self, name: &str, width: u32, height: u32) {
        self.viewport(width, height).await;
        // Let the layout settle at the new width before taking the picture.
        self.client
            .execute(
                "return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))",
                vec![],
            )
            .await
            .expect("frame");
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save screenshot");
    }
}

impl Page {
    /// Sizes the window so that the page itself gets `width` x `height`.
    async fn viewport(&self, width: u32, height: u32) {
        let (mut outer_w, mut outer_h) = (width, height);
        for _ in 0..3 {
            self.client
                .set_window_size(outer_w, outer_h)
                .await
                .expect("resize");
            let inner = self
                .client
                .execute("return [window.innerWidth, window.innerHeight]", vec![])
                .await
                .expect("viewport");
            let size = |i: usize| inner[i].as_u64().unwrap_or(0) as u32;
            if (size(0), size(1)) == (width, height) {
                return;
            }
            outer_w = (outer_w + width).saturating_sub(size(0));
            outer_h = (outer_h + height).saturating_sub(size(1));
        }
    }
}

/// `target/console-screenshots/` (under `CARGO_TARGET_DIR` when that is set).
pub fn screenshot_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("console-screenshots")
}

/// Starts chromedriver on a port it picks (`--port=0`), with `TZ` set for the browsers it
/// starts, and waits for the line saying where it listens.
async fn start_driver(chromedriver: &std::path::Path, time_zone: &str) -> (Driver, u16) {
    let mut driver = Command::new(chromedriver)
        .arg("--port=0")
        .env("TZ", time_zone)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let stdout = driver.stdout.take().expect("stdout");
    let driver = Driver(driver);
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Reads every line, so chromedriver never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let port = line
                .split_once("started successfully on port ")
                .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse::<u16>().ok());
            if let Some(port) = port
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port);
            }
        }
    });
    let port = tokio::time::timeout(PATIENCE, rx)
        .await
        .expect("chromedriver started in time")
        .expect("chromedriver said where it listens");
    (driver, port)
}

/// The path of `program` on `PATH`.
pub fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
