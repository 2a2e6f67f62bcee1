//! The sandbox's eDoc behind KKI: cases with their documents, notes and deadlines kept in
//! memory; a call with an idempotency key it has answered gets the same answer without
//! being applied again; each case keeps the changes applied to it, in order. A document
//! checked out by a user refuses changes (423) until it is checked in. What happens on
//! eDoc's side — a check-out or check-in, a new version of a document, a case closed — is
//! pushed as a [`Haendelse`] to the subscriber's URL (Knudepunkt's `/in/edoc/haendelser`);
//! a test or the demo makes it happen through the methods here or
//! `POST /kki/edoc/_sandbox/haendelse`. Faults at `/kki/edoc/_sandbox/faults`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::PATH;
use super::model::{
    AENDRET, AFSLUTTET, Bruger, Dokument, DokumentAendring, DokumentVersion, Frist, Haendelse,
    INDTJEKKET, Notat, Sag, SagAendring, SagSvar, UDTJEKKET,
};
use crate::sandbox::{FaultPlan, Recorder, control_router};

/// A case as eDoc holds it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdocSag {
    pub sag_id: String,
    pub esdh_sagsnummer: String,
    pub sag: Sag,
    pub ansvarlig: Bruger,
    pub afsluttet: Option<String>,
    pub dokumenter: BTreeMap<String, EdocDokument>,
    pub noter: BTreeMap<String, Notat>,
    pub frister: BTreeMap<String, Frist>,
    /// Every change applied, in the order applied.
    pub aendringer: Vec<Anvendt>,
}

/// A document in eDoc: its metadata (the file is checked and kept as its size and hash).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdocDokument {
    pub titel: String,
    pub dokumenttype: String,
    pub mediatype: String,
    pub journaldato: String,
    pub fortrolig: bool,
    pub sha256: String,
    pub stoerrelse: u64,
    pub version: u64,
    pub udtjekket_af: Option<Bruger>,
}

/// One change applied to a case.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Anvendt {
    /// When it happened in the calling system.
    pub tidspunkt: String,
    /// `sag`, `sag.titel=...`, `dokument/{id}`, `notat/{id}`, `frist/{id}`, ...
    pub hvad: String,
}

#[derive(Default)]
struct Store {
    sager: BTreeMap<String, EdocSag>,
    /// Answers by idempotency key.
    answered: HashMap<String, (u16, serde_json::Value)>,
    numbers: u64,
    events: u64,
}

#[derive(Clone)]
pub struct EdocSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    store: Arc<Mutex<Store>>,
    push_url: Arc<RwLock<Option<String>>>,
    http: reqwest::Client,
}

impl Default for EdocSimulator {
    fn default() -> Self {
        EdocSimulator {
            recorder: Arc::new(Recorder::new(200)),
            faults: Arc::new(FaultPlan::default()),
            store: Default::default(),
            push_url: Default::default(),
            http: crate::http::client(),
        }
    }
}

fn fejl(status: StatusCode, kode: &str, text: impl Into<String>) -> (u16, serde_json::Value) {
    (
        status.as_u16(),
        serde_json::to_value(crate::kki::Fejl {
            kode: kode.into(),
            fejl: text.into(),
        })
        .unwrap_or_default(),
    )
}

fn answer((status, body): (u16, serde_json::Value)) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, (u16, serde_json::Value)> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        fejl(
            StatusCode::BAD_REQUEST,
            "UGYLDIG_FORESPOERGSEL",
            format!("{}: {}", e.path(), e.inner()),
        )
    })
}

fn kle_ok(kle: &str) -> bool {
    let b = kle.as_bytes();
    b.len() == 8
        && b[2] == b'.'
        && b[5] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || i == 5 || c.is_ascii_digit())
}

fn checked_out(d: &EdocDokument, id: &str) -> Option<(u16, serde_json::Value)> {
    d.udtjekket_af.as_ref().map(|b| {
        fejl(
            StatusCode::LOCKED,
            "DOKUMENT_UDTJEKKET",
            format!(
                "dokument {id} er tjekket ud af {} ({}) og kan ikke ændres, før det er tjekket ind",
                b.navn, b.bruger_id
            ),
        )
    })
}

impl EdocSimulator {
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                &format!("{PATH}/sager/{{sag}}"),
                put(put_sag).patch(patch_sag).get(get_sag),
            )
            .route(
                &format!("{PATH}/sager/{{sag}}/dokumenter/{{dok}}"),
                put(put_dokument).patch(patch_dokument),
            )
            .route(
                &format!("{PATH}/sager/{{sag}}/noter/{{id}}"),
                put(put_notat),
            )
            .route(
                &format!("{PATH}/sager/{{sag}}/frister/{{id}}"),
                put(put_frist),
            )
            .route("/kki/edoc/_sandbox/haendelse", post(control_event))
            .with_state(self.clone())
            .nest(
                "/kki/edoc/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    /// Where events are pushed (Knudepunkt's `/in/edoc/haendelser`).
    pub fn events_to(&self, url: &str) {
        *self.push_url.write().expect("edoc") = Some(url.to_string());
    }

    /// The case eDoc holds for the calling system's id.
    pub fn sag(&self, sag_id: &str) -> Option<EdocSag> {
        self.store.lock().expect("edoc").sager.get(sag_id).cloned()
    }

    pub fn count(&self) -> usize {
        self.store.lock().expect("edoc").sager.len()
    }

    /// A call: counted, faults carried out, the key checked, answered once per
    /// idempotency key.
    async fn call(
        &self,
        headers: &HeaderMap,
        apply: impl FnOnce(&mut Store) -> (u16, serde_json::Value),
    ) -> Response {
        if let Some(r) = crate::kki::arrive(&self.recorder, &self.faults, headers).await {
            return r;
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut store = self.store.lock().expect("edoc");
        if let Some(k) = &key
            && let Some(done) = store.answered.get(k)
        {
            return answer(done.clone());
        }
        let done = apply(&mut store);
        if let Some(k) = key
            && done.0 < 500
        {
            store.answered.insert(k, done.clone());
        }
        if done.0 >= 400 {
            self.recorder.count_invalid();
        }
        answer(done)
    }

    /// Checks document `dok` of case `sag` out to `bruger`, and tells the subscriber.
    pub fn check_out(&self, sag: &str, dok: &str, bruger: Bruger) -> Result<Haendelse, String> {
        self.happen(sag, Some(dok), bruger, UDTJEKKET, |s, b| {
            let d = document(s, dok)?;
            if let Some(holder) = &d.udtjekket_af {
                return Err(format!(
                    "dokument {dok} er allerede tjekket ud af {}",
                    holder.navn
                ));
            }
            d.udtjekket_af = Some(b.clone());
            s.aendringer.push(Anvendt {
                tidspunkt: now(),
                hvad: format!("dokument/{dok} udtjekket"),
            });
            Ok(None)
        })
    }

    /// Checks document `dok` in again.
    pub fn check_in(&self, sag: &str, dok: &str, bruger: Bruger) -> Result<Haendelse, String> {
        self.happen(sag, Some(dok), bruger, INDTJEKKET, |s, _| {
            document(s, dok)?.udtjekket_af = None;
            s.aendringer.push(Anvendt {
                tidspunkt: now(),
                hvad: format!("dokument/{dok} indtjekket"),
            });
            Ok(None)
        })
    }

    /// A new version of document `dok` made in eDoc by `bruger`.
    pub fn change_document(
        &self,
        sag: &str,
        dok: &str,
        bruger: Bruger,
        titel: &str,
        indhold: &[u8],
    ) -> Result<Haendelse, String> {
        self.happen(sag, Some(dok), bruger, AENDRET, |s, _| {
            let d = document(s, dok)?;
            d.version += 1;
            d.titel = titel.to_string();
            d.sha256 = hex::encode(Sha256::digest(indhold));
            d.stoerrelse = indhold.len() as u64;
            let version = DokumentVersion {
                version: d.version,
                titel: d.titel.clone(),
                mediatype: d.mediatype.clone(),
                indhold: base64::engine::general_purpose::STANDARD.encode(indhold),
                sha256: d.sha256.clone(),
            };
            s.aendringer.push(Anvendt {
                tidspunkt: now(),
                hvad: format!("dokument/{dok} version {}", version.version),
            });
            Ok(Some(version))
        })
    }

    /// Case `sag` closed in eDoc by `bruger`.
    pub fn close(&self, sag: &str, bruger: Bruger) -> Result<Haendelse, String> {
        self.happen(sag, None, bruger, AFSLUTTET, |s, _| {
            s.afsluttet = Some(now());
            s.aendringer.push(Anvendt {
                tidspunkt: now(),
                hvad: "sag afsluttet".into(),
            });
            Ok(None)
        })
    }

    /// Applies `change` to case `sag` and pushes the event it makes.
    fn happen(
        &self,
        sag: &str,
        dok: Option<&str>,
        bruger: Bruger,
        kind: &str,
        change: impl FnOnce(&mut EdocSag, &Bruger) -> Result<Option<DokumentVersion>, String>,
    ) -> Result<Haendelse, String> {
        let event = {
            let mut store = self.store.lock().expect("edoc");
            store.events += 1;
            let n = store.events;
            let s = store
                .sager
                .get_mut(sag)
                .ok_or_else(|| format!("eDoc har ingen sag {sag}"))?;
            let dokument = change(s, &bruger)?;
            Haendelse {
                haendelse_id: uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_OID,
                    format!("edoc-haendelse-{}-{n}", s.esdh_sagsnummer).as_bytes(),
                )
                .to_string(),
                haendelse_type: kind.into(),
                tidspunkt: now(),
                sag_id: sag.into(),
                esdh_sagsnummer: s.esdh_sagsnummer.clone(),
                dokument_id: dok.map(str::to_string),
                bruger,
                dokument,
            }
        };
        self.push(&event);
        Ok(event)
    }

    fn push(&self, event: &Haendelse) {
        let Some(url) = self.push_url.read().expect("edoc").clone() else {
            return;
        };
        let http = self.http.clone();
        let body = serde_json::to_vec(event).unwrap_or_default();
        tokio::spawn(async move {
            for attempt in 0..20u64 {
                let sent = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if matches!(&sent, Ok(r) if r.status().is_success()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
            }
            tracing::warn!(url = %url, "the sandbox eDoc gave up pushing an event");
        });
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn document<'a>(s: &'a mut EdocSag, dok: &str) -> Result<&'a mut EdocDokument, String> {
    s.dokumenter
        .get_mut(dok)
        .ok_or_else(|| format!("sag {} har intet dokument {dok}", s.sag_id))
}

fn no_case(sag: &str) -> (u16, serde_json::Value) {
    fejl(
        StatusCode::NOT_FOUND,
        "SAG_FINDES_IKKE",
        format!("eDoc har ingen sag med id {sag}"),
    )
}

/// `body` read as `T` and applied by `f` to case `sag_id`; a body that does not read or
/// a case eDoc does not hold is answered as eDoc answers it.
fn with_case<T: serde::de::DeserializeOwned>(
    store: &mut Store,
    sag_id: &str,
    body: &[u8],
    f: impl FnOnce(&mut EdocSag, T) -> (u16, serde_json::Value),
) -> (u16, serde_json::Value) {
    let input: T = match parse(body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match store.sager.get_mut(sag_id) {
        Some(s) => f(s, input),
        None => no_case(sag_id),
    }
}

fn ok(body: serde_json::Value) -> (u16, serde_json::Value) {
    (200, body)
}

async fn put_sag(
    State(sim): State<EdocSimulator>,
    Path(sag_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.call(&headers, |store| {
        let sag: Sag = match parse(&body) {
            Ok(s) => s,
            Err(e) => return e,
        };
        if !kle_ok(&sag.kle) {
            return fejl(
                StatusCode::BAD_REQUEST,
                "UGYLDIG_KLE",
                format!("kle {:?} er ikke et KLE-emne (NN.NN.NN)", sag.kle),
            );
        }
        if let Some(p) = sag
            .parter
            .iter()
            .find(|p| p.cpr.len() != 10 || !p.cpr.bytes().all(|c| c.is_ascii_digit()))
        {
            return fejl(
                StatusCode::BAD_REQUEST,
                "UGYLDIG_PART",
                format!("parten {:?} har ikke et CPR-nummer på 10 cifre", p.rolle),
            );
        }
        if let Some(existing) = store.sager.get(&sag_id) {
            return ok(svar(existing));
        }
        store.numbers += 1;
        let year = chrono::Utc::now().format("%Y");
        let held = EdocSag {
            sag_id: sag_id.clone(),
            esdh_sagsnummer: format!("{year}-{:07}", store.numbers),
            ansvarlig: Bruger {
                bruger_id: sag.sagsbehandler.to_uppercase(),
                navn: sag.sagsbehandler.clone(),
            },
            afsluttet: None,
            dokumenter: BTreeMap::new(),
            noter: BTreeMap::new(),
            frister: BTreeMap::new(),
            aendringer: vec![Anvendt {
                tidspunkt: sag.oprettet.clone(),
                hvad: "sag".into(),
            }],
            sag,
        };
        let body = svar(&held);
        store.sager.insert(sag_id.clone(), held);
        (201, body)
    })
    .await
}

fn svar(s: &EdocSag) -> serde_json::Value {
    serde_json::to_value(SagSvar {
        sag_id: s.sag_id.clone(),
        esdh_sagsnummer: s.esdh_sagsnummer.clone(),
        ansvarlig: s.ansvarlig.clone(),
    })
    .unwrap_or_default()
}

async fn get_sag(
    State(sim): State<EdocSimulator>,
    Path(sag_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    sim.call(&headers, |store| match store.sager.get(&sag_id) {
        Some(s) => ok(serde_json::to_value(s).unwrap_or_default()),
        None => no_case(&sag_id),
    })
    .await
}

async fn patch_sag(
    State(sim): State<EdocSimulator>,
    Path(sag_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.call(&headers, |store| {
        with_case(store, &sag_id, &body, |s, change: SagAendring| {
            let mut what = Vec::new();
            if let Some(t) = change.titel {
                what.push(format!("titel={t}"));
                s.sag.titel = t;
            }
            if let Some(b) = change.sagsbehandler {
                what.push(format!("sagsbehandler={b}"));
                s.sag.sagsbehandler = b;
            }
            if let Some(f) = change.fortrolig {
                what.push(format!("fortrolig={f}"));
                s.sag.fortrolig = f;
            }
            if let Some(st) = change.status {
                what.push(format!("status={st}"));
                if st == "Lukket" && s.afsluttet.is_none() {
                    s.afsluttet = Some(change.tidspunkt.clone());
                }
                s.sag.status = st;
            }
            if let Some(n) = change.notat {
                what.push(format!("notat={n}"));
            }
            s.aendringer.push(Anvendt {
                tidspunkt: change.tidspunkt,
                hvad: format!("sag {}", what.join(" ")),
            });
            ok(svar(s))
        })
    })
    .await
}

async fn put_dokument(
    State(sim): State<EdocSimulator>,
    Path((sag_id, dok)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.call(&headers, |store| {
        with_case(store, &sag_id, &body, |s, d: Dokument| {
        let bytes = match base64::engine::general_purpose::STANDARD.decode(d.indhold.trim()) {
            Ok(b) => b,
            Err(e) => {
                return fejl(
                    StatusCode::BAD_REQUEST,
                    "UGYLDIG_FIL",
                    format!("dokument {dok}: indhold er ikke base64: {e}"),
                );
            }
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        if sha != d.sha256 || bytes.len() as u64 != d.stoerrelse {
            return fejl(
                StatusCode::BAD_REQUEST,
                "FIL_UFULDSTAENDIG",
                format!(
                    "dokument {dok}: filen har {} bytes med SHA-256 {sha}, men sha256/stoerrelse siger {} og {}",
                    bytes.len(),
                    d.sha256,
                    d.stoerrelse
                ),
            );
        }
        let version = match s.dokumenter.get(&dok) {
            Some(existing) => {
                if let Some(locked) = checked_out(existing, &dok) {
                    return locked;
                }
                existing.version + 1
            }
            None => 1,
        };
        s.dokumenter.insert(
            dok.clone(),
            EdocDokument {
                titel: d.titel,
                dokumenttype: d.dokumenttype,
                mediatype: d.mediatype,
                journaldato: d.journaldato,
                fortrolig: d.fortrolig,
                sha256: sha,
                stoerrelse: d.stoerrelse,
                version,
                udtjekket_af: None,
            },
        );
        s.aendringer.push(Anvendt {
            tidspunkt: now(),
            hvad: format!("dokument/{dok}"),
        });
        ok(serde_json::json!({ "dokumentId": dok, "version": version }))
        })
    })
    .await
}

async fn patch_dokument(
    State(sim): State<EdocSimulator>,
    Path((sag_id, dok)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.call(&headers, |store| {
        with_case(store, &sag_id, &body, |s, change: DokumentAendring| {
            let Some(d) = s.dokumenter.get_mut(&dok) else {
                return fejl(
                    StatusCode::NOT_FOUND,
                    "DOKUMENT_FINDES_IKKE",
                    format!("sag {sag_id} har intet dokument {dok}"),
                );
            };
            if let Some(locked) = checked_out(d, &dok) {
                return locked;
            }
            if let Some(t) = change.titel {
                d.titel = t;
            }
            if let Some(f) = change.fortrolig {
                d.fortrolig = f;
            }
            let version = d.version;
            s.aendringer.push(Anvendt {
                tidspunkt: change.tidspunkt,
                hvad: format!("dokument/{dok} ændret"),
            });
            ok(serde_json::json!({ "dokumentId": dok, "version": version }))
        })
    })
    .await
}

async fn put_notat(
    State(sim): State<EdocSimulator>,
    Path((sag_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.call(&headers, |store| {
        with_case(store, &sag_id, &body, |s, n: Notat| {
            s.aendringer.push(Anvendt {
                tidspunkt: n.tidspunkt.clone(),
                hvad: format!("notat/{id}"),
            });
            s.noter.insert(id.clone(), n);
            ok(serde_json::json!({ "notatId": id }))
        })
    })
    .await
}

async fn put_frist(
    State(sim): State<EdocSimulator>,
    Path((sag_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.call(&headers, |store| {
        with_case(store, &sag_id, &body, |s, f: Frist| {
            if chrono::NaiveDate::parse_from_str(&f.dato, "%Y-%m-%d").is_err() {
                return fejl(
                    StatusCode::BAD_REQUEST,
                    "UGYLDIG_DATO",
                    format!("frist {id}: dato {:?} er ikke en dato (ÅÅÅÅ-MM-DD)", f.dato),
                );
            }
            s.aendringer.push(Anvendt {
                tidspunkt: now(),
                hvad: format!("frist/{id}"),
            });
            s.frister.insert(id.clone(), f);
            ok(serde_json::json!({ "fristId": id }))
        })
    })
    .await
}

/// What the sandbox's control API makes happen in eDoc.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Happening {
    #[serde(rename = "type")]
    kind: String,
    sag_id: String,
    #[serde(default)]
    dokument_id: Option<String>,
    bruger: Bruger,
    #[serde(default)]
    titel: Option<String>,
    /// Base64, for a new version.
    #[serde(default)]
    indhold: Option<String>,
}

async fn control_event(State(sim): State<EdocSimulator>, body: Bytes) -> Response {
    let h: Happening = match parse(&body) {
        Ok(h) => h,
        Err(e) => return answer(e),
    };
    let dok = h.dokument_id.clone().unwrap_or_default();
    let done = match h.kind.as_str() {
        UDTJEKKET => sim.check_out(&h.sag_id, &dok, h.bruger),
        INDTJEKKET => sim.check_in(&h.sag_id, &dok, h.bruger),
        AFSLUTTET => sim.close(&h.sag_id, h.bruger),
        AENDRET => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.indhold.unwrap_or_default())
                .unwrap_or_default();
            sim.change_document(
                &h.sag_id,
                &dok,
                h.bruger,
                h.titel.as_deref().unwrap_or("Ny version"),
                &bytes,
            )
        }
        other => Err(format!(
            "type {other:?}: {UDTJEKKET}, {INDTJEKKET}, {AENDRET} or {AFSLUTTET}"
        )),
    };
    match done {
        Ok(event) => axum::Json(event).into_response(),
        Err(e) => answer(fejl(StatusCode::BAD_REQUEST, "UGYLDIG", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kle_numbers_are_checked() {
        assert!(kle_ok("27.36.12"));
        assert!(!kle_ok("27.36"));
        assert!(!kle_ok("27-36-12"));
    }
}
