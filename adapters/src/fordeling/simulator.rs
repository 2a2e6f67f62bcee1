//! The sandbox's Fordelingskomponent and the receiving systems behind it. Each call is
//! an OIO IDWS SOAP 1.1 call, checked like every Serviceplatformen service and
//! validated against `DistributionServiceMsg.xsd`. FordelingsmodtagerValider and
//! FordelingsmodtagerList answer from the registered systems; FordelingsobjektAfsend
//! routes to one (AFVIST when none takes it), answers MODTAGET, deduplicates on
//! AnvenderTransaktionsID, and a while later the receiving system's receipt
//! (ACCEPTERET, or AFVIST for a system told to refuse) is pushed to the anvender's
//! FordelingskvitteringModtag over mTLS. The document's file must be on the SFTP server
//! (scripts/sftp's folder, when this machine has it) under the anmodning's
//! DokumentFilNavn. FordelingskvitteringModtag passes a receiving
//! system's own receipt on the same way. Faults are injected through
//! `/fordeling/_sandbox/faults`: a StatusKode 40 is a `Client` fault with a
//! TransportKvittering, 49 a `Server` one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::kvittering::fault;
use super::wire::{self, Anmodning, Context, Kode, Kvittering, Routing, System};
use super::{ENTITY_ID, NS, PATH};
use crate::sandbox::{FaultPlan, Recorder, control_router, faults};
use crate::serviceplatformen::idws::SOAP11;
use crate::serviceplatformen::security::dom::{Document, Element};
use crate::sts::simulator::StsSimulator;
use crate::sts_service::service::body_element;

/// How a receiving system answers what it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// ACCEPTERET.
    Accept,
    /// AFVIST, with this Begrundelse.
    Refuse(String),
    /// Nothing by itself: its receipt comes through FordelingskvitteringModtag (or
    /// [`FordelingSimulator::kvitter`]).
    Hold,
}

/// A system that receives documents: its authority, UUID and name, the KLE emner it
/// takes (prefixes: `27.` takes main group 27), and how it answers.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub myndighed: String,
    pub uuid: String,
    pub navn: String,
    pub emner: Vec<String>,
    pub behaviour: Behaviour,
}

impl Receiver {
    fn takes(&self, emne: &str) -> bool {
        self.emner.iter().any(|p| emne.starts_with(p.as_str()))
    }
}

/// A document the service took.
#[derive(Clone, Debug)]
pub struct Sent {
    pub context: Context,
    pub system: String,
    pub objekt_id: String,
    /// The file it names, as found on the SFTP server: its SHA-256 (hex).
    pub fil_sha256: Option<String>,
    /// The receipts pushed to the anvender so far.
    pub kvitteringer: Vec<Kode>,
}

#[derive(Default)]
struct Inner {
    receivers: Vec<Receiver>,
    /// By AnvenderTransaktionsID.
    sent: HashMap<String, Sent>,
}

struct Settings {
    kvittering_url: Option<String>,
    delay: Duration,
    /// The SFTP server's folder for documents, as this machine sees it: an anmodning
    /// whose file is not there is refused.
    sftp_dir: Option<PathBuf>,
}

/// The sandbox SFTP server's folder (scripts/sftp), if this machine has it.
pub fn sandbox_sftp_dir() -> Option<PathBuf> {
    std::env::var_os("KNUDEPUNKT_SFTP_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/srv/knudepunkt-sftp/upload")))
        .filter(|d| d.is_dir())
}

/// The sandbox SFTP server's authorized keys (scripts/sftp), if this machine has them.
pub fn sandbox_authorized_keys() -> Option<PathBuf> {
    std::env::var_os("KNUDEPUNKT_SFTP_AUTHORIZED_KEYS")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/etc/knudepunkt-sftp/authorized_keys")))
        .filter(|f| f.is_file())
}

/// Lets the holder of `credential` in to the sandbox SFTP server (as registering a
/// system's key with Serviceplatformen does): its key joins the authorized keys, once.
/// Only the newest 200 keys are kept. Whether the server is there.
pub fn register_sftp_key(
    credential: &crate::serviceplatformen::security::credentials::Credential,
) -> Result<bool, String> {
    let Some(file) = sandbox_authorized_keys() else {
        return Ok(false);
    };
    let line = super::sftp::openssh_public_key(credential, "knudepunkt-sandbox")?;
    let current = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    if current.lines().any(|l| l == line) {
        return Ok(true);
    }
    let mut lines: Vec<&str> = current.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.push(&line);
    let keep = lines.len().saturating_sub(200);
    let mut out = lines[keep..].join("\n");
    out.push('\n');
    std::fs::write(&file, out).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(true)
}

#[derive(Clone)]
pub struct FordelingSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    inner: Arc<Mutex<Inner>>,
    settings: Arc<RwLock<Settings>>,
    http: reqwest::Client,
}

/// The sandbox's receiving systems: Frederiksberg's social services and Region
/// Hovedstaden's psychiatry, each taking social-services emner (main group 27).
pub fn sandbox_receivers() -> Vec<Receiver> {
    let uuid = |name: &str| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    vec![
        Receiver {
            myndighed: "11259979".into(),
            uuid: uuid("fordeling:11259979:socialforvaltningen").to_string(),
            navn: "Frederiksberg Kommune, Socialforvaltningens fagsystem".into(),
            emner: vec!["27.".into()],
            behaviour: Behaviour::Accept,
        },
        Receiver {
            myndighed: "29190623".into(),
            uuid: uuid("fordeling:29190623:psykiatrien").to_string(),
            navn: "Region Hovedstaden, Psykiatriens journalsystem".into(),
            emner: vec!["27.".into(), "29.".into()],
            behaviour: Behaviour::Accept,
        },
    ]
}

impl FordelingSimulator {
    /// `schema` is `sf2900-fordeling/DistributionServiceMsg.xsd` when the schema folder
    /// is found; `pusher` the HTTP client receipts are pushed with (mTLS).
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>, pusher: reqwest::Client) -> Self {
        FordelingSimulator {
            recorder: Arc::new(Recorder::new(50)),
            faults: Arc::new(FaultPlan::default()),
            sts,
            schema: schema.map(Arc::new),
            inner: Arc::new(Mutex::new(Inner {
                receivers: sandbox_receivers(),
                sent: HashMap::new(),
            })),
            settings: Arc::new(RwLock::new(Settings {
                kvittering_url: None,
                delay: Duration::from_millis(300),
                sftp_dir: sandbox_sftp_dir(),
            })),
            http: pusher,
        }
    }

    /// Where receipts are pushed (Knudepunkt's FordelingskvitteringModtag), and how soon
    /// a receiving system answers.
    pub fn kvitteringer_to(&self, url: &str, delay: Duration) {
        let mut s = self.settings.write().expect("fordeling");
        s.kvittering_url = Some(url.to_string());
        s.delay = delay;
    }

    /// Where the files are looked for (`None`: they are not).
    pub fn set_sftp_dir(&self, dir: Option<PathBuf>) {
        self.settings.write().expect("fordeling").sftp_dir = dir;
    }

    pub fn register(&self, receiver: Receiver) {
        let mut inner = self.inner.lock().expect("fordeling");
        inner.receivers.retain(|r| r.uuid != receiver.uuid);
        inner.receivers.push(receiver);
    }

    /// Sets how the system `uuid` answers.
    pub fn set_behaviour(&self, uuid: &str, behaviour: Behaviour) {
        let mut inner = self.inner.lock().expect("fordeling");
        for r in inner.receivers.iter_mut().filter(|r| r.uuid == uuid) {
            r.behaviour = behaviour.clone();
        }
    }

    pub fn receivers(&self) -> Vec<Receiver> {
        self.inner.lock().expect("fordeling").receivers.clone()
    }

    /// What was sent with this AnvenderTransaktionsID.
    pub fn sent(&self, anvender_id: &str) -> Option<Sent> {
        self.inner
            .lock()
            .expect("fordeling")
            .sent
            .get(anvender_id)
            .cloned()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().expect("fordeling").sent.len()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(operation))
            .with_state(self.clone())
            .nest(
                "/fordeling/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    /// The receiving system's receipt for the distribution `anvender_id`, pushed to
    /// the anvender now (as FordelingskvitteringModtag passes one on). Whether it was
    /// taken.
    pub async fn kvitter(&self, anvender_id: &str, kvittering: Kvittering) -> bool {
        let Some(sent) = self.sent(anvender_id) else {
            return false;
        };
        self.push(&sent.context, kvittering).await
    }

    /// Pushes a receipt until the anvender takes it (or refuses it as `Client`). It is
    /// noted on the distribution as it is sent, and taken off again if it never got
    /// through.
    async fn push(&self, context: &Context, kvittering: Kvittering) -> bool {
        let Some(url) = self
            .settings
            .read()
            .expect("fordeling")
            .kvittering_url
            .clone()
        else {
            return false;
        };
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{}</soap:Body></soap:Envelope>"#,
            wire::anvender_kvittering(&kvittering, context)
        );
        let note = |add: bool| {
            if let Some(s) = self
                .inner
                .lock()
                .expect("fordeling")
                .sent
                .get_mut(&context.anvender_transaktions_id)
            {
                if add {
                    s.kvitteringer.push(kvittering.kode);
                } else {
                    s.kvitteringer.pop();
                }
            }
        };
        note(true);
        for attempt in 0..10u64 {
            match self
                .http
                .post(&url)
                .header("content-type", "text/xml; charset=utf-8")
                .header("SOAPAction", "\"\"")
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) => {
                    // A Client fault: the anvender will not take it, however often.
                    let text = r.text().await.unwrap_or_default();
                    if text.contains(":Client</faultcode>") {
                        break;
                    }
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        }
        note(false);
        false
    }

    /// The receiving system answers by itself, a while after it got the document.
    fn answer_later(&self, context: Context, behaviour: Behaviour) {
        let kvittering = match behaviour {
            Behaviour::Accept => Kvittering::new(Kode::Accepteret, "Forretning", None),
            Behaviour::Refuse(why) => Kvittering::new(Kode::Afvist, "Forretning", Some(&why)),
            Behaviour::Hold => return,
        };
        let delay = self.settings.read().expect("fordeling").delay;
        let sim = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sim.push(&context, kvittering).await;
        });
    }

    fn afsend(&self, root: &Element, element: &str, transaction: &str) -> Response {
        let anmodning = match Anmodning::read(root) {
            Ok(a) => a,
            Err(e) => {
                self.recorder.count_invalid();
                return fault(NS, "Client", &e, "VALIDERING");
            }
        };
        let key = anmodning.context.anvender_transaktions_id.clone();
        let mut inner = self.inner.lock().expect("fordeling");
        if let Some(sent) = inner.sent.get(&key) {
            // The same anmodning again: the same answer, nothing sent twice.
            self.recorder.accept(
                &key,
                Some(transaction),
                Some("text/xml"),
                element.as_bytes(),
            );
            return afsend_response(
                &Kvittering::new(Kode::Modtaget, "Teknisk", None),
                &sent.context,
            );
        }
        let ctx = &anmodning.context;
        let receiver = inner
            .receivers
            .iter()
            .find(|r| {
                r.myndighed == ctx.routing_myndighed
                    && match &ctx.routing {
                        Routing::Modtager(uuid) => &r.uuid == uuid,
                        Routing::Kle { emne, .. } => r.takes(emne),
                    }
            })
            .cloned();
        let Some(receiver) = receiver else {
            self.recorder.count_invalid();
            let why = format!(
                "Ingen modtagersystem hos myndighed {} modtager {}",
                ctx.routing_myndighed,
                match &ctx.routing {
                    Routing::Modtager(uuid) => format!("som aktør {uuid}"),
                    Routing::Kle { emne, .. } => format!("KLE-emne {emne}"),
                }
            );
            return afsend_response(&Kvittering::new(Kode::Afvist, "Teknisk", Some(&why)), ctx);
        };
        let sftp_dir = self.settings.read().expect("fordeling").sftp_dir.clone();
        let fil_sha256 = match (&sftp_dir, &ctx.dokument_fil_navn) {
            (Some(dir), Some(navn)) => match std::fs::read(dir.join(navn)) {
                Ok(bytes) => {
                    use sha2::Digest;
                    Some(hex::encode(sha2::Sha256::digest(&bytes)))
                }
                Err(_) => {
                    self.recorder.count_invalid();
                    let why = format!("Dokumentfilen {navn} findes ikke på SFTP-serveren");
                    return afsend_response(
                        &Kvittering::new(Kode::Afvist, "Teknisk", Some(&why)),
                        ctx,
                    );
                }
            },
            _ => None,
        };
        let mut context = ctx.clone();
        context.distribution_transaktions_id = Some(uuid::Uuid::new_v4().to_string());
        inner.sent.insert(
            key.clone(),
            Sent {
                context: context.clone(),
                system: receiver.uuid.clone(),
                objekt_id: anmodning.objekt_id.clone(),
                fil_sha256,
                kvitteringer: Vec::new(),
            },
        );
        drop(inner);
        self.recorder.accept(
            &key,
            Some(transaction),
            Some("text/xml"),
            element.as_bytes(),
        );
        self.answer_later(context.clone(), receiver.behaviour);
        afsend_response(&Kvittering::new(Kode::Modtaget, "Teknisk", None), &context)
    }

    fn valider(&self, root: &Element) -> Response {
        let inner = self.inner.lock().expect("fordeling");
        let modtagere: Vec<wire::Modtager> = root
            .elements_named("RoutingListe")
            .flat_map(|l| l.elements_named("Routing"))
            .map(|r| {
                let myndighed = r.text_at(&["RoutingMyndighed"]).unwrap_or_default();
                let aktoer = r.text_at(&["RoutingModtagerAktoer"]).unwrap_or_default();
                let kan_modtage = inner
                    .receivers
                    .iter()
                    .any(|s| s.myndighed == myndighed && s.uuid == aktoer);
                wire::Modtager {
                    myndighed,
                    aktoer,
                    kan_modtage,
                }
            })
            .collect();
        response(&wire::valider_response(&modtagere))
    }

    fn list(&self, root: &Element) -> Response {
        let routing = root.elements_named("Routing").next();
        let field = |name: &str| routing.and_then(|r| r.text_at(&[name])).unwrap_or_default();
        let (myndighed, emne) = (field("RoutingMyndighed"), field("RoutingKLEEmne"));
        let facet = routing.and_then(|r| r.text_at(&["RoutingHandlingFacet"]));
        let systems: Vec<System> = self
            .inner
            .lock()
            .expect("fordeling")
            .receivers
            .iter()
            .filter(|r| r.myndighed == myndighed && r.takes(&emne))
            .map(|r| System {
                myndighed: r.myndighed.clone(),
                uuid: r.uuid.clone(),
                navn: r.navn.clone(),
                emne: emne.clone(),
                facet: facet.clone(),
            })
            .collect();
        response(&wire::list_response(&systems))
    }

    /// A receiving system's receipt (FordelingskvitteringModtag), passed on.
    async fn kvittering(&self, root: &Element) -> Response {
        let read = root
            .elements_named("Forretningskvittering")
            .next()
            .ok_or_else(|| "FordelingskvitteringModtagRequest has no Forretningskvittering".into())
            .and_then(Kvittering::read)
            .and_then(|k| {
                root.elements_named("DistributionContext")
                    .next()
                    .ok_or_else(|| {
                        "FordelingskvitteringModtagRequest has no DistributionContext".into()
                    })
                    .and_then(Context::read)
                    .map(|c| (k, c))
            });
        let (kvittering, context) = match read {
            Ok(r) => r,
            Err(e) => return fault(NS, "Client", &e, "VALIDERING"),
        };
        let Some(sent) = self.sent(&context.anvender_transaktions_id) else {
            return fault(
                NS,
                "Client",
                &format!(
                    "Ingen fordeling med AnvenderTransaktionsID {}",
                    context.anvender_transaktions_id
                ),
                "UKENDT",
            );
        };
        if !self.push(&sent.context, kvittering).await {
            return fault(
                NS,
                "Server",
                "Afsendersystemet tog ikke imod kvitteringen; prøv igen",
                "PROEV_IGEN",
            );
        }
        response(&format!(
            "<fk:FordelingskvitteringModtagResponse {}/>",
            wire::namespaces()
        ))
    }
}

fn response(body: &str) -> Response {
    (
        StatusCode::OK,
        [("content-type", "text/xml; charset=utf-8")],
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        ),
    )
        .into_response()
}

fn afsend_response(kvittering: &Kvittering, context: &Context) -> Response {
    response(&wire::afsend_response(kvittering, context))
}

async fn operation(State(sim): State<FordelingSimulator>, body: Bytes) -> Response {
    let injected = match faults::arrive_sts(&sim.recorder, &sim.faults).await {
        faults::Arrival::Answered(resp) => return resp,
        faults::Arrival::StatusKode { code, text } => Some((code, text)),
        faults::Arrival::Proceed => None,
    };
    let text = String::from_utf8_lossy(&body);
    let accepted = match crate::sandbox::accept_idws(&sim.recorder, &sim.sts, ENTITY_ID, &text) {
        Ok(a) => a,
        Err(why) => return fault(NS, "Client", &why, "SIKKERHED"),
    };
    if let Some((code, why)) = injected {
        return if code == 40 {
            fault(NS, "Client", &why, "40")
        } else {
            fault(NS, "Server", &why, "49")
        };
    }
    let Some((local, element)) = body_element(&text) else {
        sim.recorder.count_invalid();
        return fault(NS, "Client", "Body holds no operation", "VALIDERING");
    };
    if let Some(xsd) = &sim.schema
        && let Err(e) = knudepunkt_engine::transform::xsd::validate(xsd, element.as_bytes())
    {
        sim.recorder.count_invalid();
        return fault(
            NS,
            "Client",
            &format!("Anmodningen validerer ikke: {e}"),
            "VALIDERING",
        );
    }
    let doc = match Document::parse(element) {
        Ok(d) => d,
        Err(e) => {
            return fault(
                NS,
                "Client",
                &format!("Anmodningen er ikke XML: {e}"),
                "VALIDERING",
            );
        }
    };
    let Some(root) = doc.at(&[]) else {
        return fault(NS, "Client", "tom anmodning", "VALIDERING");
    };
    match local.as_str() {
        "FordelingsobjektAfsendRequest" => sim.afsend(root, element, &accepted.transaction),
        "FordelingsmodtagerValiderRequest" => sim.valider(root),
        "FordelingsmodtagerListRequest" => sim.list(root),
        "FordelingskvitteringModtagRequest" => sim.kvittering(root).await,
        other => fault(
            NS,
            "Client",
            &format!("{other} is not an operation of DistributionService 3"),
            "VALIDERING",
        ),
    }
}
