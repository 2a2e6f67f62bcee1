//! The sandbox's intake at Danmarks Statistik: it takes a report's file over HTTP
//! (Knudepunkt's model, `mappings/dst/README.md`), refuses what an intake would (a
//! header missing, a file that is empty, lines of unequal length, a SHA-256 that does
//! not match, the same file already submitted under another sender's id), answers a
//! repeated upload with its first receipt, and a while later pushes the status:
//! godkendt, or afvist with the reason it was told to give.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::{PERIOD_HEADER, REPORT_HEADER, SENDER_ID_HEADER, SHA256_HEADER, UPLOAD_PATH};
use crate::sandbox::{FaultPlan, Recorder, control_router, faults};

/// An upload the intake took.
#[derive(Clone, Debug)]
pub struct Upload {
    pub kvittering: String,
    pub report: String,
    pub period: String,
    pub sha256: String,
    /// Lines after the header.
    pub records: usize,
}

#[derive(Default)]
struct Inner {
    by_sender: HashMap<String, Upload>,
    by_content: HashMap<(String, String, String), String>,
    next: u64,
}

struct Settings {
    status_url: Option<String>,
    delay: Duration,
    reject_next: VecDeque<String>,
}

#[derive(Clone)]
pub struct DstIntake {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    inner: Arc<Mutex<Inner>>,
    settings: Arc<RwLock<Settings>>,
    http: reqwest::Client,
}

impl Default for DstIntake {
    fn default() -> Self {
        Self::new()
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "fejl": why }))).into_response()
}

impl DstIntake {
    pub fn new() -> Self {
        DstIntake {
            recorder: Arc::new(Recorder::new(20)),
            faults: Arc::new(FaultPlan::default()),
            inner: Arc::new(Mutex::new(Inner::default())),
            settings: Arc::new(RwLock::new(Settings {
                status_url: None,
                delay: Duration::from_millis(300),
                reject_next: VecDeque::new(),
            })),
            http: crate::http::client(),
        }
    }

    /// Where statuses are pushed (Knudepunkt's `/in/dst/status`), and how soon.
    pub fn status_to(&self, url: &str, delay: Duration) {
        let mut s = self.settings.write().expect("dst");
        s.status_url = Some(url.to_string());
        s.delay = delay;
    }

    /// The next upload is rejected (afvist) with `reason`.
    pub fn reject_next(&self, reason: &str) {
        self.settings
            .write()
            .expect("dst")
            .reject_next
            .push_back(reason.to_string());
    }

    /// The upload with this sender's id.
    pub fn upload(&self, sender_id: &str) -> Option<Upload> {
        self.inner
            .lock()
            .expect("dst")
            .by_sender
            .get(sender_id)
            .cloned()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().expect("dst").by_sender.len()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(UPLOAD_PATH, post(upload))
            .with_state(self.clone())
            .nest(
                "/dst/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    fn push_later(&self, sender_id: String, upload: Upload) {
        let (url, delay, reject) = {
            let mut s = self.settings.write().expect("dst");
            (s.status_url.clone(), s.delay, s.reject_next.pop_front())
        };
        let Some(url) = url else { return };
        let http = self.http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let body = serde_json::json!({
                "kvittering": upload.kvittering,
                "indsender_id": sender_id,
                "indberetning": upload.report,
                "periode": upload.period,
                "status": if reject.is_some() { "afvist" } else { "godkendt" },
                "begrundelse": reject,
            });
            for attempt in 0..10u64 {
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => return,
                    _ => tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await,
                }
            }
        });
    }
}

async fn upload(State(sim): State<DstIntake>, headers: HeaderMap, body: Bytes) -> Response {
    if let faults::Arrival::Answered(resp) = faults::arrive_sts(&sim.recorder, &sim.faults).await {
        return resp;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .filter(|v| !v.is_empty())
    };
    let (Some(report), Some(period), Some(sender), Some(sha)) = (
        header(REPORT_HEADER),
        header(PERIOD_HEADER),
        header(SENDER_ID_HEADER),
        header(SHA256_HEADER),
    ) else {
        sim.recorder.count_invalid();
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "{REPORT_HEADER}, {PERIOD_HEADER}, {SENDER_ID_HEADER} og {SHA256_HEADER} skal angives"
            ),
        );
    };
    use sha2::Digest as _;
    if hex::encode(sha2::Sha256::digest(&body)) != sha {
        sim.recorder.count_invalid();
        return refuse(StatusCode::BAD_REQUEST, "filens SHA-256 passer ikke");
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        sim.recorder.count_invalid();
        return refuse(StatusCode::BAD_REQUEST, "filen er ikke UTF-8");
    };
    let mut lines = text.lines();
    let Some(head) = lines.next().filter(|h| !h.trim().is_empty()) else {
        sim.recorder.count_invalid();
        return refuse(StatusCode::BAD_REQUEST, "filen er tom");
    };
    let width = head.split(';').count();
    let mut records = 0;
    for (i, line) in lines.enumerate() {
        if line.split(';').count() != width && !line.contains('"') {
            sim.recorder.count_invalid();
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("linje {} har ikke {width} felter som overskriften", i + 2),
            );
        }
        records += 1;
    }
    let mut inner = sim.inner.lock().expect("dst");
    if let Some(first) = inner.by_sender.get(&sender) {
        sim.recorder.accept(&sender, None, Some("text/csv"), &body);
        return (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "kvittering": first.kvittering, "status": "modtaget" })),
        )
            .into_response();
    }
    let content = (report.clone(), period.clone(), sha.clone());
    if let Some(other) = inner.by_content.get(&content) {
        sim.recorder.count_invalid();
        return refuse(
            StatusCode::CONFLICT,
            &format!(
                "den samme fil er allerede indberettet for {report} {period} (afsender-id {other})"
            ),
        );
    }
    inner.next += 1;
    let up = Upload {
        kvittering: format!("DST-{:06}", inner.next),
        report,
        period,
        sha256: sha,
        records,
    };
    inner.by_sender.insert(sender.clone(), up.clone());
    inner.by_content.insert(content, sender.clone());
    drop(inner);
    sim.recorder.accept(&sender, None, Some("text/csv"), &body);
    sim.push_later(sender, up.clone());
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "kvittering": up.kvittering, "status": "modtaget" })),
    )
        .into_response()
}
