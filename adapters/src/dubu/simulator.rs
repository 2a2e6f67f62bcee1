//! The sandbox's DUBU behind KKI: a generated cohort of young people in the children's
//! authority, each turning 18 somewhere between two months ago and ten months ahead, and
//! for each a handover package made on request and streamed (its documents are
//! generated a chunk at a time, never held whole): master data and contacts, the
//! current Handleplan, the services with their legal basis, the børnefaglig undersøgelse
//! and four other documents. A package can be damaged on request — a part left out, a
//! part altered after the manifest was made, the archive cut short — and DUBU keeps the
//! receipts and refusals it is sent. Faults at `/kki/dubu/_sandbox/faults`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::model::{
    DOKUMENT, Del, Handleplan, Kontakt, Kvittering, Maal, Manifest, Overdragelse, PLAN, STAMDATA,
    Stamdata, UNDERSOEGELSE, YDELSER, Ydelse, Ydelser,
};
use super::{MANIFEST, PATH, ustar};
use crate::sandbox::{FaultPlan, Recorder, control_router};

/// How a package is damaged when it is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    /// A document the manifest lists is left out.
    MissingPart,
    /// A byte of a document is changed after the manifest was made.
    Checksum,
    /// The archive stops in the middle of a document.
    Truncated,
}

/// One young person of the cohort.
#[derive(Clone, Debug)]
struct Child {
    overdragelse: Overdragelse,
    index: u64,
}

#[derive(Clone)]
pub struct DubuSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    cohort: Arc<RwLock<Cohort>>,
    damage: Arc<Mutex<HashMap<String, Damage>>>,
    receipts: Arc<Mutex<Vec<(String, Kvittering)>>>,
    /// Manifests made, by handover: a package is the same every time it is asked for.
    manifests: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
}

struct Cohort {
    children: Vec<Child>,
    by_id: HashMap<String, usize>,
    doc_bytes: u64,
    today: NaiveDate,
}

const GIVEN: &[&str] = &[
    "Emma", "Noah", "Ida", "William", "Freja", "Oscar", "Alma", "Lucas", "Clara", "Victor", "Asta",
    "Malthe",
];
const FAMILY: &[&str] = &[
    "Nielsen",
    "Jensen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
];
const DOCUMENTS: &[(&str, &str, &str)] = &[
    (
        "boernefaglig-undersoegelse.pdf",
        UNDERSOEGELSE,
        "Børnefaglig undersøgelse",
    ),
    ("dokumenter/handleplan.pdf", DOKUMENT, "Handleplan"),
    (
        "dokumenter/statusudtalelse.pdf",
        DOKUMENT,
        "Statusudtalelse",
    ),
    ("dokumenter/skoleudtalelse.pdf", DOKUMENT, "Skoleudtalelse"),
    (
        "dokumenter/psykologisk-undersoegelse.pdf",
        DOKUMENT,
        "Psykologisk undersøgelse",
    ),
];

impl Cohort {
    fn generate(size: usize, doc_bytes: u64, today: NaiveDate) -> Cohort {
        let children: Vec<Child> = (0..size as u64)
            .map(|i| {
                // Turning 18 from 60 days ago to 300 days ahead, spread evenly.
                let offset = ((i * 97) % 360) as i64 - 60;
                let birthday18 = today + chrono::Duration::days(offset);
                let born = NaiveDate::from_ymd_opt(
                    birthday18.year() - 18,
                    birthday18.month(),
                    birthday18.day(),
                )
                .unwrap_or_else(|| {
                    NaiveDate::from_ymd_opt(birthday18.year() - 18, 2, 28).expect("a date")
                });
                let fylder18 = NaiveDate::from_ymd_opt(born.year() + 18, born.month(), born.day())
                    .unwrap_or(birthday18);
                // Born 2000-2036 with a seventh digit of 4: the serial's first digit.
                let cpr = format!("{}{:04}", born.format("%d%m%y"), 4000 + i % 1000);
                let id = uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_OID,
                    format!("dubu-overdragelse-{i}").as_bytes(),
                )
                .to_string();
                Child {
                    index: i,
                    overdragelse: Overdragelse {
                        overdragelse_id: id,
                        cpr,
                        fornavn: GIVEN[(i as usize) % GIVEN.len()].into(),
                        efternavn: FAMILY[(i as usize / GIVEN.len()) % FAMILY.len()].into(),
                        foedselsdato: born.format("%Y-%m-%d").to_string(),
                        fylder18: fylder18.format("%Y-%m-%d").to_string(),
                        // DUBU can make the package at any time.
                        pakke_klar: true,
                    },
                }
            })
            .collect();
        let by_id = children
            .iter()
            .enumerate()
            .map(|(i, c)| (c.overdragelse.overdragelse_id.clone(), i))
            .collect();
        Cohort {
            children,
            by_id,
            doc_bytes,
            today,
        }
    }
}

/// A generated document: "%PDF-1.4" and then bytes from a xorshift seeded by the child
/// and the document, made a chunk at a time.
fn document_chunks(
    seed: u64,
    size: u64,
    flip_at: Option<u64>,
) -> impl Iterator<Item = Bytes> + Send {
    const CHUNK: u64 = 64 * 1024;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut made = 0u64;
    std::iter::from_fn(move || {
        if made >= size {
            return None;
        }
        let n = CHUNK.min(size - made);
        let mut buf = Vec::with_capacity(n as usize + 8);
        while (buf.len() as u64) < n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            buf.extend_from_slice(&state.to_le_bytes());
        }
        buf.truncate(n as usize);
        if made == 0 {
            let head = b"%PDF-1.4\n";
            let k = head.len().min(buf.len());
            buf[..k].copy_from_slice(&head[..k]);
        }
        if let Some(at) = flip_at
            && at >= made
            && at < made + n
        {
            buf[(at - made) as usize] ^= 0xFF;
        }
        made += n;
        Some(Bytes::from(buf))
    })
}

fn seed(child: u64, doc: usize) -> u64 {
    child * 31 + doc as u64 + 1
}

/// The small JSON parts of a child's package.
fn json_parts(c: &Child, today: NaiveDate) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let o = &c.overdragelse;
    let stamdata = Stamdata {
        cpr: o.cpr.clone(),
        fornavn: o.fornavn.clone(),
        efternavn: o.efternavn.clone(),
        adresse: Some(format!(
            "Nørrebrogade {}, 2200 København N",
            1 + c.index % 240
        )),
        kontakter: vec![
            Kontakt {
                rolle: "Mor".into(),
                navn: format!("Hanne {}", o.efternavn),
                telefon: Some(format!("2{:07}", c.index)),
                cpr: None,
            },
            Kontakt {
                rolle: "Sagsbehandler (børn og unge)".into(),
                navn: "Lise Holm".into(),
                telefon: Some("33663366".into()),
                cpr: None,
            },
        ],
    };
    let plan = Handleplan {
        titel: format!("Handleplan for {}", o.fornavn),
        plantype: "Handleplan".into(),
        dato: (today - chrono::Duration::days(90))
            .format("%Y-%m-%d")
            .to_string(),
        maal: vec![
            Maal {
                tekst: "Gennemføre en ungdomsuddannelse".into(),
                delmaal: vec![Maal {
                    tekst: "Møde stabilt i skole".into(),
                    delmaal: vec![],
                }],
            },
            Maal {
                tekst: "Bo i egen bolig med støtte".into(),
                delmaal: vec![],
            },
        ],
    };
    let ydelser = Ydelser {
        ydelser: vec![
            Ydelse {
                navn: "Fast kontaktperson".into(),
                lovgrundlag: "Barnets Lov § 32, stk. 1, nr. 4".into(),
                fra: "2023-08-01".into(),
                til: None,
                leverandoer: Some("Københavns Kommune".into()),
            },
            Ydelse {
                navn: "Anbringelse på opholdssted".into(),
                lovgrundlag: "Barnets Lov § 43".into(),
                fra: "2021-03-01".into(),
                til: None,
                leverandoer: Some("Opholdsstedet Solhøj".into()),
            },
        ],
    };
    vec![
        (
            "stamdata.json",
            STAMDATA,
            serde_json::to_vec_pretty(&stamdata).unwrap_or_default(),
        ),
        (
            "handleplan.json",
            PLAN,
            serde_json::to_vec_pretty(&plan).unwrap_or_default(),
        ),
        (
            "ydelser.json",
            YDELSER,
            serde_json::to_vec_pretty(&ydelser).unwrap_or_default(),
        ),
    ]
}

impl Default for DubuSimulator {
    fn default() -> Self {
        Self::new(40, 64 * 1024)
    }
}

impl DubuSimulator {
    /// A cohort of `size` young people, with documents of `doc_bytes` each.
    pub fn new(size: usize, doc_bytes: u64) -> Self {
        DubuSimulator {
            recorder: Arc::new(Recorder::new(100)),
            faults: Arc::new(FaultPlan::default()),
            cohort: Arc::new(RwLock::new(Cohort::generate(
                size,
                doc_bytes,
                chrono::Utc::now().date_naive(),
            ))),
            damage: Default::default(),
            receipts: Default::default(),
            manifests: Default::default(),
        }
    }

    /// Generates the cohort again: `size` young people, documents of `doc_bytes`.
    pub fn set_cohort(&self, size: usize, doc_bytes: u64) {
        *self.cohort.write().expect("dubu") =
            Cohort::generate(size, doc_bytes, chrono::Utc::now().date_naive());
        self.manifests.lock().expect("dubu").clear();
    }

    /// Makes every package's manifest now (as DUBU prepares its exports before they are
    /// fetched) rather than on the first request; returns how many. CPU-bound: run it
    /// off the async threads.
    pub fn prepare_packages(&self) -> usize {
        let (children, doc_bytes, today) = {
            let c = self.cohort.read().expect("dubu");
            (c.children.clone(), c.doc_bytes, c.today)
        };
        for child in &children {
            self.manifest(child, doc_bytes, today);
        }
        children.len()
    }

    /// The whole cohort.
    pub fn cohort(&self) -> Vec<Overdragelse> {
        self.cohort
            .read()
            .expect("dubu")
            .children
            .iter()
            .map(|c| c.overdragelse.clone())
            .collect()
    }

    /// Handover `id`'s package is served damaged from now on (`None`: whole again).
    pub fn damage(&self, id: &str, damage: Option<Damage>) {
        let mut d = self.damage.lock().expect("dubu");
        match damage {
            Some(k) => d.insert(id.to_string(), k),
            None => d.remove(id),
        };
    }

    /// The receipts and refusals DUBU was sent, by handover.
    pub fn receipts(&self) -> Vec<(String, Kvittering)> {
        self.receipts.lock().expect("dubu").clone()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(&format!("{PATH}/overdragelser"), get(list))
            .route(&format!("{PATH}/overdragelser/{{id}}/pakke"), get(package))
            .route(
                &format!("{PATH}/overdragelser/{{id}}/kvittering"),
                post(receipt),
            )
            .route("/kki/dubu/_sandbox/damage/{id}", post(set_damage))
            .route("/kki/dubu/_sandbox/prepare", post(prepare))
            .with_state(self.clone())
            .nest(
                "/kki/dubu/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    async fn arrive(&self, headers: &HeaderMap) -> Option<Response> {
        crate::kki::arrive(&self.recorder, &self.faults, headers).await
    }

    /// The manifest of `child`'s package (made once: each document generated to hash it).
    fn manifest(&self, c: &Child, doc_bytes: u64, today: NaiveDate) -> Arc<Vec<u8>> {
        let id = &c.overdragelse.overdragelse_id;
        if let Some(m) = self.manifests.lock().expect("dubu").get(id) {
            return m.clone();
        }
        let mut dele: Vec<Del> = json_parts(c, today)
            .into_iter()
            .map(|(navn, kind, bytes)| Del {
                navn: navn.into(),
                del_type: kind.into(),
                mediatype: "application/json".into(),
                stoerrelse: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                titel: None,
                dokumenttype: None,
            })
            .collect();
        for (i, (navn, kind, title)) in DOCUMENTS.iter().enumerate() {
            let mut h = Sha256::new();
            for chunk in document_chunks(seed(c.index, i), doc_bytes, None) {
                h.update(&chunk);
            }
            dele.push(Del {
                navn: (*navn).into(),
                del_type: (*kind).into(),
                mediatype: "application/pdf".into(),
                stoerrelse: doc_bytes,
                sha256: hex::encode(h.finalize()),
                titel: Some(format!("{title} — {}", c.overdragelse.fornavn)),
                dokumenttype: Some((*title).into()),
            });
        }
        let manifest = Manifest {
            pakke_id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("dubu-pakke-{id}").as_bytes(),
            )
            .to_string(),
            overdragelse_id: id.clone(),
            cpr: c.overdragelse.cpr.clone(),
            dannet: format!("{}T06:00:00Z", today.format("%Y-%m-%d")),
            dele,
        };
        let bytes = Arc::new(serde_json::to_vec_pretty(&manifest).unwrap_or_default());
        self.manifests
            .lock()
            .expect("dubu")
            .insert(id.clone(), bytes.clone());
        bytes
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Before {
    fylder18_inden: String,
}

async fn list(
    State(sim): State<DubuSimulator>,
    headers: HeaderMap,
    Query(q): Query<Before>,
) -> Response {
    if let Some(r) = sim.arrive(&headers).await {
        return r;
    }
    let Ok(before) = NaiveDate::parse_from_str(&q.fylder18_inden, "%Y-%m-%d") else {
        return crate::kki::error(
            StatusCode::BAD_REQUEST,
            "UGYLDIG_FORESPOERGSEL",
            "fylder18Inden er ikke en dato (ÅÅÅÅ-MM-DD)",
        );
    };
    let cohort = sim.cohort.read().expect("dubu");
    let out: Vec<&Overdragelse> = cohort
        .children
        .iter()
        .map(|c| &c.overdragelse)
        .filter(|o| o.fylder18.as_str() <= before.format("%Y-%m-%d").to_string().as_str())
        .collect();
    axum::Json(out).into_response()
}

async fn package(
    State(sim): State<DubuSimulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = sim.arrive(&headers).await {
        return r;
    }
    let (child, doc_bytes, today) = {
        let cohort = sim.cohort.read().expect("dubu");
        match cohort.by_id.get(&id) {
            Some(&i) => (cohort.children[i].clone(), cohort.doc_bytes, cohort.today),
            None => {
                return crate::kki::error(
                    StatusCode::NOT_FOUND,
                    "OVERDRAGELSE_FINDES_IKKE",
                    format!("ingen overdragelse {id}"),
                );
            }
        }
    };
    if !child.overdragelse.pakke_klar {
        return crate::kki::error(
            StatusCode::CONFLICT,
            "PAKKE_IKKE_KLAR",
            format!("overdragelse {id}: pakken er ikke klar endnu"),
        );
    }
    let damage = sim.damage.lock().expect("dubu").get(&id).copied();
    let manifest = sim.manifest(&child, doc_bytes, today);
    sim.recorder
        .accept(&format!("pakke-{id}"), None, Some("application/x-tar"), b"");
    let mut segments: Vec<Box<dyn Iterator<Item = Bytes> + Send>> = Vec::new();
    let file = |name: &str, size: u64| -> Box<dyn Iterator<Item = Bytes> + Send> {
        Box::new(std::iter::once(Bytes::copy_from_slice(&ustar::header(
            name, size, 0,
        ))))
    };
    segments.push(file(MANIFEST, manifest.len() as u64));
    segments.push(Box::new(std::iter::once(Bytes::from(manifest.to_vec()))));
    segments.push(Box::new(std::iter::once(Bytes::from(ustar::padding(
        manifest.len() as u64,
    )))));
    for (navn, _, bytes) in json_parts(&child, today) {
        let n = bytes.len() as u64;
        segments.push(file(navn, n));
        segments.push(Box::new(std::iter::once(Bytes::from(bytes))));
        segments.push(Box::new(std::iter::once(Bytes::from(ustar::padding(n)))));
    }
    for (i, (navn, _, _)) in DOCUMENTS.iter().enumerate() {
        if damage == Some(Damage::MissingPart) && i == 3 {
            continue;
        }
        segments.push(file(navn, doc_bytes));
        let flip = (damage == Some(Damage::Checksum) && i == 1).then_some(doc_bytes / 2);
        let chunks = document_chunks(seed(child.index, i), doc_bytes, flip);
        if damage == Some(Damage::Truncated) && i == 2 {
            // The archive stops halfway through this document.
            let half = (doc_bytes / 2).max(1);
            let mut sent = 0u64;
            segments.push(Box::new(chunks.map_while(move |c| {
                (sent < half).then(|| {
                    let take = (half - sent).min(c.len() as u64) as usize;
                    sent += take as u64;
                    c.slice(..take)
                })
            })));
            break;
        }
        segments.push(Box::new(chunks));
        segments.push(Box::new(std::iter::once(Bytes::from(ustar::padding(
            doc_bytes,
        )))));
    }
    if damage != Some(Damage::Truncated) {
        segments.push(Box::new(std::iter::once(Bytes::from(ustar::end()))));
    }
    let stream = futures::stream::iter(segments.into_iter().flatten().map(Ok::<_, std::io::Error>));
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-tar".parse().expect("a media type"),
    );
    resp
}

async fn receipt(
    State(sim): State<DubuSimulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = sim.arrive(&headers).await {
        return r;
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let k: Kvittering = match serde_path_to_error::deserialize(de) {
        Ok(k) => k,
        Err(e) => {
            return crate::kki::error(
                StatusCode::BAD_REQUEST,
                "UGYLDIG_FORESPOERGSEL",
                format!("{}: {}", e.path(), e.inner()),
            );
        }
    };
    if !sim.cohort.read().expect("dubu").by_id.contains_key(&id) {
        return crate::kki::error(
            StatusCode::NOT_FOUND,
            "OVERDRAGELSE_FINDES_IKKE",
            format!("ingen overdragelse {id}"),
        );
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (duplicate, _) = sim.recorder.accept(
        &format!("kvittering-{key}"),
        None,
        Some("application/json"),
        &body,
    );
    if !duplicate {
        sim.receipts.lock().expect("dubu").push((id, k));
    }
    axum::Json(serde_json::json!({ "modtaget": true })).into_response()
}

async fn prepare(State(sim): State<DubuSimulator>) -> Response {
    match tokio::task::spawn_blocking(move || sim.prepare_packages()).await {
        Ok(n) => axum::Json(serde_json::json!({ "prepared": n })).into_response(),
        Err(e) => crate::kki::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERN_FEJL",
            e.to_string(),
        ),
    }
}

async fn set_damage(
    State(sim): State<DubuSimulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let damage: Option<Damage> = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return crate::kki::error(
                StatusCode::BAD_REQUEST,
                "UGYLDIG_FORESPOERGSEL",
                format!("missing_part, checksum, truncated or null: {e}"),
            );
        }
    };
    sim.damage(&id, damage);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_the_same_each_time_and_damage_changes_one_byte() {
        let a: Vec<u8> = document_chunks(7, 200_000, None)
            .flat_map(|b| b.to_vec())
            .collect();
        let b: Vec<u8> = document_chunks(7, 200_000, None)
            .flat_map(|b| b.to_vec())
            .collect();
        let c: Vec<u8> = document_chunks(7, 200_000, Some(100_000))
            .flat_map(|b| b.to_vec())
            .collect();
        assert_eq!(a.len(), 200_000);
        assert_eq!(a, b);
        assert!(a.starts_with(b"%PDF-1.4\n"));
        assert_eq!(a.iter().zip(&c).filter(|(x, y)| x != y).count(), 1);
    }

    #[test]
    fn the_cohort_turns_18_around_now_with_valid_numbers() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let c = Cohort::generate(100, 10, today);
        let ids: std::collections::BTreeSet<_> =
            c.children.iter().map(|c| &c.overdragelse.cpr).collect();
        assert_eq!(ids.len(), 100);
        for ch in &c.children {
            let o = &ch.overdragelse;
            assert_eq!(o.cpr.len(), 10);
            assert_eq!(&o.cpr[6..7], "4");
            let d = NaiveDate::parse_from_str(&o.fylder18, "%Y-%m-%d").unwrap();
            assert!(
                d >= today - chrono::Duration::days(61) && d <= today + chrono::Duration::days(301)
            );
        }
    }
}
