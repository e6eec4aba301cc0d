//! A real browser for the console's tests: Debian's chromium, headless,
//! driven through chromedriver (WebDriver) on loopback, with a fresh
//! profile each time. Missing chromium is a failure, never a skip: CI
//! installs it (`.ci/run`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What a person's screen is in the issue: 1366×768.
pub const SCREEN: (u32, u32) = (1366, 768);

/// How long the browser is given to show something.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A headless chromium and the chromedriver that drives it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
    session: Option<String>,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

/// Fails the test, saying what to install, when either program is missing.
pub fn require_chromium() {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: the console's test needs Debian's chromium and chromedriver \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless chromium
    /// of 1366×768; screenshots go to `shots`.
    pub async fn start(shots: &Path) -> Browser {
        require_chromium();
        std::fs::create_dir_all(shots).expect("screenshot folder");
        let port = crate::free_ports(1)[0];
        let driver = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver_url = format!("http://127.0.0.1:{port}");
        crate::wait_until("chromedriver answers", LIMIT, || {
            ureq::get(&format!("{driver_url}/status")).call().is_ok()
        });
        let profile = tempfile::tempdir().expect("browser profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=pt-BR",
            &format!("--window-size={},{}", SCREEN.0, SCREEN.1),
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!("an object literal"),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .expect("a chromium session through chromedriver");
        let session = client.session_id().await.ok().flatten();
        fit_viewport(&client).await;
        Browser {
            client,
            driver,
            driver_url,
            session,
            _profile: profile,
            shots: shots.to_path_buf(),
        }
    }

    /// Saves what the browser shows as `NAME.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write screenshot");
        path
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(LIMIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css:?} on the page within {LIMIT:?}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Replaces an input's value.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Waits until the JS expression `expr` is true in the page.
    pub async fn until(&self, what: &str, expr: &str) {
        let started = Instant::now();
        let script = format!("return !!({expr});");
        loop {
            if self.run(&script).await == Value::Bool(true) {
                return;
            }
            if started.elapsed() > LIMIT {
                let text = self.run("return document.body.innerText").await;
                panic!("{what}: not within {LIMIT:?}; the page reads:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's text under `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (chromedriver quits chromium), then the driver.
        if let Some(id) = &self.session {
            let _ = ureq::delete(&format!("{}/session/{id}", self.driver_url)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Sizes the window so that the page itself (what a screenshot holds) is
/// 1366×768: headless chromium counts its window's frame in the size.
async fn fit_viewport(client: &Client) {
    let inner = |v: Value| {
        let n = |k: &str| v[k].as_u64().unwrap_or(0) as u32;
        (n("w"), n("h"))
    };
    let script = "return {w: window.innerWidth, h: window.innerHeight}";
    let (w, h) = inner(client.execute(script, Vec::new()).await.expect("viewport"));
    let (want_w, want_h) = SCREEN;
    let width = want_w + want_w.saturating_sub(w);
    let height = want_h + want_h.saturating_sub(h);
    client
        .set_window_size(width, height)
        .await
        .expect("window size");
}

/// The width and height of a PNG, from its header.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (png.len() >= 24 && &png[12..16] == b"IHDR").then(|| (be(&png[16..20]), be(&png[20..24])))
}
