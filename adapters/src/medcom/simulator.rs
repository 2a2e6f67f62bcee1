//! The sandbox's MedCom network: a VANS access point with a hospital and a GP behind it.
//! What Knudepunkt sends is read from its VANS envelope, validated against the MedCom
//! schema of its namespace, recorded (deduplicated on sender and envelope identifier,
//! as receivers do) and answered with a receipt pushed back to Knudepunkt's access
//! point: positive, or on request negative, none at all, or late. A message that does
//! not validate gets a negative receipt naming the error. On demand it sends Knudepunkt
//! what the hospital or GP would: correspondence, or any Emessage given to it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::emessage::{self, EMessage};
pub use super::hospital::{
    admission_notice, care_plan, completion_notice, correspondence, discharge_notice,
    discharge_report,
};
use super::vans::Envelope;
use super::{SEND_PATH, identifier, schema_for};
use crate::sandbox::{FaultPlan, Recorder, control_router, faults};

/// The hospital department behind the sandbox's access point (from MedCom's example).
pub const HOSPITAL_EAN: &str = "5790000120400";
/// The GP behind it.
pub const GP_EAN: &str = "5790000128700";

/// How the network answers the next messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptMode {
    Positive,
    /// A negative receipt with this refusal code and text.
    Negative {
        code: String,
        text: String,
    },
    /// No receipt at all.
    Silent,
    /// A positive receipt, this much later.
    Late(Duration),
}

struct Settings {
    knudepunkt_url: Option<String>,
    mode: ReceiptMode,
    receipt_delay: Duration,
}

#[derive(Clone)]
pub struct MedComNetwork {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    schemas: Option<Arc<PathBuf>>,
    /// The project's own XDIS21 model (`mappings/medcom/xdis21/…`).
    model: Option<Arc<PathBuf>>,
    settings: Arc<Mutex<Settings>>,
    http: reqwest::Client,
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

impl MedComNetwork {
    /// `schemas`: the folder holding `medcom/schemas/`, when found.
    pub fn new(schemas: Option<PathBuf>) -> Self {
        MedComNetwork {
            recorder: Arc::new(Recorder::new(200)),
            faults: Arc::new(FaultPlan::default()),
            schemas: schemas.map(Arc::new),
            model: Some(std::path::Path::new("mappings").join(super::XDIS21_SCHEMA))
                .filter(|p| p.is_file())
                .map(Arc::new),
            settings: Arc::new(Mutex::new(Settings {
                knudepunkt_url: None,
                mode: ReceiptMode::Positive,
                receipt_delay: Duration::from_millis(50),
            })),
            http: crate::http::client(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().expect("medcom network")
    }

    /// Where Knudepunkt's access point takes envelopes (receipts and messages go there).
    pub fn deliver_to(&self, url: &str) {
        self.lock().knudepunkt_url = Some(url.to_string());
    }

    pub fn answer_with(&self, mode: ReceiptMode) {
        self.lock().mode = mode;
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(SEND_PATH, post(take))
            .with_state(self.clone())
            .nest(
                "/medcom/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    /// Where the project's XDIS21 model is (found under `mappings/` from the working
    /// folder otherwise).
    pub fn with_model(mut self, xsd: PathBuf) -> Self {
        self.model = Some(Arc::new(xsd));
        self
    }

    /// Validates `data` against the schema of its namespace; the error, if any.
    pub fn check(&self, data: &[u8], message: &EMessage) -> Result<(), String> {
        if message.schema_date == super::XDIS21_SCHEMA_SET {
            let xsd = self
                .model
                .as_ref()
                .ok_or("the XDIS21 model (mappings/medcom/xdis21) is not at hand")?;
            return knudepunkt_engine::transform::xsd::validate(xsd, data)
                .map_err(|e| e.to_string());
        }
        let Some(dir) = &self.schemas else {
            return Ok(());
        };
        let xsd = dir.join(schema_for(&message.schema_date));
        knudepunkt_engine::transform::xsd::validate(&xsd, data).map_err(|e| e.to_string())
    }

    /// Sends `emessage` from `from` to `to` (EAN numbers) in a VANS envelope to
    /// Knudepunkt, as the hospital or GP would; Knudepunkt's HTTP status and answer.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        emessage: &[u8],
    ) -> Result<(u16, String), String> {
        let url = self
            .lock()
            .knudepunkt_url
            .clone()
            .ok_or("the network does not know where Knudepunkt is (deliver_to)")?;
        let parsed = emessage::parse(emessage).map_err(|e| e.to_string());
        let (identifier, name, version) = match &parsed {
            Ok(m) => (
                m.envelope_id.clone(),
                format!("MCM:{}", m.letters[0].statistical_code),
                m.letters[0].version_code.clone(),
            ),
            // Malformed on purpose (a test): sent all the same.
            Err(_) => ("UKENDT".into(), "MCM:UKENDT".into(), String::new()),
        };
        let envelope = Envelope {
            sender_ean: from.into(),
            receiver_ean: to.into(),
            envelope_id: uuid::Uuid::new_v4().to_string(),
            sent: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            identifier,
            document_name: name,
            version,
            data: emessage.to_vec(),
        };
        let resp = self
            .http
            .post(&url)
            .header("content-type", "application/xml")
            .body(envelope.to_xml())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    /// Sends correspondence (XDIS91) from the hospital to `to` about the citizen `cpr`.
    /// `episode`: the EpisodeOfCareIdentifier (a reply keeps the one it answers).
    pub async fn send_correspondence(
        &self,
        to: &str,
        cpr: &str,
        subject: &str,
        text: &str,
        episode: Option<&str>,
    ) -> Result<(u16, String), String> {
        let xml = correspondence(HOSPITAL_EAN, to, cpr, subject, text, episode);
        self.send(HOSPITAL_EAN, to, xml.as_bytes()).await
    }

    /// Sends an admission notice (XDIS20) from the hospital about `cpr` to `to`, encoded
    /// in ISO-8859-1 as hospitals often do.
    pub async fn send_admission(
        &self,
        to: &str,
        cpr: &str,
        date: &str,
        time: &str,
    ) -> Result<(u16, String), String> {
        let xml = admission_notice(HOSPITAL_EAN, to, cpr, date, time);
        let latin1: Vec<u8> = xml
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        self.send(HOSPITAL_EAN, to, &latin1).await
    }

    /// Answers `message` (received from `env`) with a receipt, as the mode says.
    fn answer(&self, env: &Envelope, message: &EMessage, refusal: Option<(String, String)>) {
        let (url, mode, delay) = {
            let s = self.lock();
            (s.knudepunkt_url.clone(), s.mode.clone(), s.receipt_delay)
        };
        let Some(url) = url else { return };
        let (refusal, delay) = match (refusal, mode) {
            (Some(r), _) => (Some(r), delay),
            (None, ReceiptMode::Silent) => return,
            (None, ReceiptMode::Positive) => (None, delay),
            (None, ReceiptMode::Late(late)) => (None, late),
            (None, ReceiptMode::Negative { code, text }) => (Some((code, text)), delay),
        };
        if refusal.is_none() && !message.wants_positive_receipt() {
            return;
        }
        let receipt = receipt(env, message, refusal.as_ref());
        let back = Envelope {
            sender_ean: env.receiver_ean.clone(),
            receiver_ean: env.sender_ean.clone(),
            envelope_id: uuid::Uuid::new_v4().to_string(),
            sent: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            identifier: identifier("SR", &format!("receipt/{}", message.envelope_id)),
            document_name: if refusal.is_some() {
                "MCM:XCTL02"
            } else {
                "MCM:XCTL03"
            }
            .into(),
            version: if refusal.is_some() {
                "XC0230Q"
            } else {
                "XC0330Q"
            }
            .into(),
            data: receipt.into_bytes(),
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for attempt in 0..20u64 {
                match http
                    .post(&url)
                    .header("content-type", "application/xml")
                    .body(back.to_xml())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => return,
                    _ => tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await,
                }
            }
            tracing::warn!(%url, "sandbox: a MedCom receipt could not be delivered");
        });
    }
}

/// The network's receipt (schema set 2005/08/07) for `message`.
fn receipt(env: &Envelope, message: &EMessage, refusal: Option<&(String, String)>) -> String {
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen);
    let seed = format!("receipt/{}/{}", env.sender_ean, message.envelope_id);
    let letters: String = message
        .letters
        .iter()
        .map(|l| {
            format!(
                "<OriginalLetter><OriginalLetterIdentifier>{}</OriginalLetterIdentifier><OriginalVersionCode>{}</OriginalVersionCode></OriginalLetter>",
                esc(&l.letter_id),
                esc(&l.version_code)
            )
        })
        .collect();
    let (element, version, code, refuse) = match refusal {
        None => ("PositiveReceipt", "XC0330Q", "XCTL03", String::new()),
        Some((c, t)) => (
            "NegativeReceipt",
            "XC0230Q",
            "XCTL02",
            format!(
                "<RefuseCode>{}</RefuseCode><RefuseText>{}</RefuseText>",
                esc(c),
                esc(t)
            ),
        ),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"><Envelope><Sent><Date>{date}</Date><Time>{time}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>minuspositivkvitt</AcknowledgementCode></Envelope><{element}><Letter><Identifier>{letter}</Identifier><VersionCode>{version}</VersionCode><StatisticalCode>{code}</StatisticalCode></Letter><Sender><EANIdentifier>{us}</EANIdentifier></Sender><Receiver><EANIdentifier>{them}</EANIdentifier></Receiver><OriginalEmessage><OriginalEnvelopeIdentifier>{original}</OriginalEnvelopeIdentifier><OriginalSender><EANIdentifier>{them}</EANIdentifier></OriginalSender><OriginalReceiver><EANIdentifier>{us}</EANIdentifier></OriginalReceiver>{refuse}{letters}</OriginalEmessage></{element}></Emessage>"#,
        date = now.format("%Y-%m-%d"),
        time = now.format("%H:%M"),
        envelope = identifier("SR", &seed),
        letter = identifier("SK", &seed),
        us = esc(&env.receiver_ean),
        them = esc(&env.sender_ean),
        original = esc(&message.envelope_id),
    )
}

async fn take(State(net): State<MedComNetwork>, body: Bytes) -> Response {
    if let Some(faulty) = faults::arrive(&net.recorder, &net.faults).await {
        return faulty;
    }
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            net.recorder.count_invalid();
            return (StatusCode::BAD_REQUEST, format!("VANS: {e}")).into_response();
        }
    };
    let message = match emessage::parse(&env.data) {
        Ok(m) => m,
        Err(e) => {
            net.recorder.count_invalid();
            return (StatusCode::BAD_REQUEST, format!("Emessage: {e}")).into_response();
        }
    };
    if let Err(e) = net.check(&env.data, &message) {
        net.recorder.count_invalid();
        net.answer(&env, &message, Some(("syntaksfejl".into(), e)));
        return (StatusCode::OK, "taken; a negative receipt follows").into_response();
    }
    let key = format!("{}/{}", env.sender_ean, message.envelope_id);
    net.recorder.accept(
        &key,
        Some(&message.envelope_id),
        Some("application/xml"),
        &env.data,
    );
    // Receipts are not answered. A message sent again (its receipt lost or late) is
    // recorded once and answered again.
    if !message.letters.iter().all(|l| l.is_receipt()) {
        net.answer(&env, &message, None);
    }
    (StatusCode::OK, "taken").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas() -> PathBuf {
        let dir = crate::medcom::formats();
        assert!(
            dir.join("medcom/schemas").is_dir(),
            "the MedCom schemas are in ../shared/formats"
        );
        dir
    }

    #[test]
    fn the_networks_messages_and_receipts_validate() {
        let net = MedComNetwork::new(Some(schemas())).with_model(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../mappings")
                .join(crate::medcom::XDIS21_SCHEMA),
        );
        let xml = correspondence(
            HOSPITAL_EAN,
            "5790001382438",
            "0101901234",
            "Svar på henvendelse",
            "Kære kommune\nPatienten er udskrevet.",
            Some("SAG42"),
        );
        let m = emessage::parse(xml.as_bytes()).unwrap();
        net.check(xml.as_bytes(), &m).unwrap();
        let env = Envelope {
            sender_ean: HOSPITAL_EAN.into(),
            receiver_ean: "5790001382438".into(),
            envelope_id: "e".into(),
            sent: "t".into(),
            identifier: m.envelope_id.clone(),
            document_name: "MCM:XDIS91".into(),
            version: "XD9134L".into(),
            data: xml.clone().into_bytes(),
        };
        let admission = admission_notice(
            HOSPITAL_EAN,
            "5790001382438",
            "0101901234",
            "2026-11-27",
            "08:15",
        );
        let a = emessage::parse(admission.as_bytes()).unwrap();
        net.check(admission.as_bytes(), &a).unwrap();
        assert_eq!(
            a.letters[0].admitted_at.as_deref(),
            Some("2026-11-27T08:15")
        );
        assert_eq!(a.letters[0].answer_to.as_deref(), Some(HOSPITAL_EAN));
        let discharge = discharge_notice(
            HOSPITAL_EAN,
            "5790001382438",
            "0101901234",
            "2026-12-02",
            "11:30",
        );
        let d = emessage::parse(discharge.as_bytes()).unwrap();
        net.check(discharge.as_bytes(), &d).unwrap();
        assert_eq!(
            d.letters[0].discharged_at.as_deref(),
            Some("2026-12-02T11:30")
        );
        let completion = completion_notice(
            HOSPITAL_EAN,
            "5790001382438",
            "0101901234",
            ("2026-11-27", "08:15"),
            ("2026-11-30", "12:00"),
            ("2026-12-02", "10:00"),
        );
        let c = emessage::parse(completion.as_bytes()).unwrap();
        net.check(completion.as_bytes(), &c).unwrap();
        assert_eq!(
            c.letters[0].planned_discharge.as_deref(),
            Some("2026-12-02T10:00")
        );
        let report = discharge_report(
            HOSPITAL_EAN,
            "5790001382438",
            "0101901234",
            ("2026-11-27", "08:15"),
            ("2026-12-02", "11:30"),
            "Udskrives til eget hjem.\nHjemmepleje genoptages.",
        );
        let r = emessage::parse(report.as_bytes()).unwrap();
        net.check(report.as_bytes(), &r).unwrap();
        assert_eq!(
            r.letters[0].discharged_at.as_deref(),
            Some("2026-12-02T11:30")
        );
        assert!(
            r.letters[0]
                .text
                .as_deref()
                .unwrap()
                .contains("eget hjem.\nHjemmepleje")
        );
        let plan = care_plan(
            HOSPITAL_EAN,
            "5790001382438",
            "0101901234",
            ("2026-12-02", "10:00"),
            &[("Pleje", "Hjælp til bad hver morgen.\nTryksårsforebyggelse.")],
        );
        let p = emessage::parse(plan.as_bytes()).unwrap();
        assert_eq!(p.schema_date, crate::medcom::XDIS21_SCHEMA_SET);
        net.check(plan.as_bytes(), &p).unwrap();
        assert!(
            p.letters[0]
                .text
                .as_deref()
                .unwrap()
                .starts_with("Pleje\nHjælp til bad")
        );
        let wrong = plan.replace("<Headline>Pleje</Headline>", "");
        assert!(
            net.check(wrong.as_bytes(), &p).is_err(),
            "the model is applied"
        );
        for refusal in [
            None,
            Some((
                "syntaksfejl".to_string(),
                "Element 'X' <ukendt>".to_string(),
            )),
        ] {
            let r = receipt(&env, &m, refusal.as_ref());
            let parsed = emessage::parse(r.as_bytes()).unwrap();
            net.check(r.as_bytes(), &parsed).unwrap();
            let o = parsed.letters[0].original.clone().unwrap();
            assert_eq!(o.envelope_id, m.envelope_id);
            assert_eq!(o.letter_ids, vec![m.letters[0].letter_id.clone()]);
        }
    }
}
