//! The `fordelingskomponent` adapter: one document to another authority's system.
//! Before it is sent, the recipient is checked: a named system with
//! FordelingsmodtagerValider (KanModtage), a KLE routing with FordelingsmodtagerList (some
//! system at the authority takes the emne). A recipient that cannot receive is a
//! permanent failure that names it. The answer's ForretningsKvittering decides:
//! MODTAGET or AFLEVERET accept the delivery (the receipt settles it later; its
//! DistributionTransktionsID is kept), ACCEPTERET delivers, AFVIST and FEJLET are
//! permanent with the kvittering's reason. A fault's TransportKvittering gives the
//! reason; `Client` faults are permanent, others are tried again.
//!
//! The payload is Knudepunkt's envelope ([`super::forsendelse`]): the document's file,
//! which goes to the SFTP server first ([`super::sftp`]), and the anmodning, which names
//! it.
//!
//! Route options: `sftp_endpoint` (the SFTP server), `status_within` (how long the
//! receipt may take, default 48h), `valider_modtager` (`false` to skip the check).

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome, Reply};

use super::wire::{self, Anmodning, Kode, Kvittering, Routing, TransportKvittering};
use super::{ACTION, ADAPTER, TRANSACTION_ID};
use crate::digital_post::print::fault_of;
use crate::generic_http::client::{Classified, classify_status};
use crate::serviceplatformen::access::Access;
use crate::serviceplatformen::idws::Soap;
use crate::serviceplatformen::security::dom::{Document, Element};
use crate::sts_service::client::{CallFailed, call};
use crate::sts_service::service::body_element;

/// The route option naming the SFTP server's endpoint.
pub const SFTP_OPTION: &str = "sftp_endpoint";

pub struct FordelingAdapter {
    access: Access,
}

impl FordelingAdapter {
    pub fn new(access: Access) -> Self {
        FordelingAdapter { access }
    }
}

fn permanent(error: String) -> DeliveryOutcome {
    DeliveryOutcome::Permanent { error, reply: None }
}

fn transient(error: String) -> DeliveryOutcome {
    DeliveryOutcome::Transient {
        error,
        retry_after: None,
    }
}

/// What one call to the service came to.
enum Answer {
    /// The operation's response element, parsed.
    Response(Document),
    /// It ended the delivery.
    Ended(DeliveryOutcome),
}

/// A call's answer read: the response element, or the outcome a fault or an HTTP
/// error amounts to (the TransportKvittering's reason when there is one).
fn read(service: &str, operation: &str, status: u16, text: &str) -> Answer {
    if let Some((code, why)) = fault_of(text) {
        let reason = Document::parse(text)
            .ok()
            .and_then(|doc| {
                let paths = doc.find(super::NS, "TransportKvittering");
                let path = paths
                    .into_iter()
                    .chain(doc.find(super::NS2, "TransportKvittering"))
                    .next()?;
                doc.at(&path).map(|e| TransportKvittering::read(e).reason())
            })
            .unwrap_or(why);
        let error = format!("{service} {operation}: {code}: {reason}");
        return Answer::Ended(if code.ends_with("Client") {
            permanent(error)
        } else {
            transient(error)
        });
    }
    if !(200..300).contains(&status) {
        let error = format!("{service} {operation} answered {status}");
        return Answer::Ended(match classify_status(status) {
            Classified::Permanent => permanent(error),
            _ => transient(error),
        });
    }
    match body_element(text).and_then(|(_, el)| Document::parse(el).ok()) {
        Some(doc) => Answer::Response(doc),
        None => Answer::Ended(transient(format!(
            "{service} {operation} answered {status} without a response element"
        ))),
    }
}

impl FordelingAdapter {
    /// One operation: its answer read.
    async fn operation(&self, d: &Delivery<'_>, operation: &str, body: &str) -> Answer {
        let sending = match self.access.sending(d) {
            Ok(s) => s,
            Err(outcome) => return Answer::Ended(outcome),
        };
        // The sending is the message's own transaction, so that a redelivery is the
        // same transaction again; the checks are their own.
        let transaction = if operation == "FordelingsobjektAfsend" {
            d.message_id.as_uuid()
        } else {
            uuid::Uuid::now_v7()
        };
        match call(
            sending.sts,
            sending.cvr,
            sending.http,
            d.endpoint,
            sending.entity,
            &format!("{ACTION}{operation}"),
            Soap::V11,
            body,
            transaction,
        )
        .await
        {
            Ok((status, text)) => read(&d.endpoint.name, operation, status, &text),
            Err(CallFailed::Permanent(e)) => Answer::Ended(permanent(e)),
            Err(CallFailed::Transient(e)) => Answer::Ended(transient(e)),
        }
    }

    /// Whether the anmodning's recipient can receive; `None` when it can.
    async fn check_recipient(&self, d: &Delivery<'_>, a: &Anmodning) -> Option<DeliveryOutcome> {
        let ctx = &a.context;
        let (operation, body) = match &ctx.routing {
            Routing::Modtager(system) => (
                "FordelingsmodtagerValider",
                wire::valider_request(&ctx.afsendende_myndighed, &ctx.routing_myndighed, system),
            ),
            Routing::Kle { emne, facet } => (
                "FordelingsmodtagerList",
                wire::list_request(
                    &ctx.afsendende_myndighed,
                    &ctx.routing_myndighed,
                    emne,
                    facet.as_deref(),
                ),
            ),
        };
        let doc = match self.operation(d, operation, &body).await {
            Answer::Response(doc) => doc,
            Answer::Ended(outcome) => return Some(outcome),
        };
        let root = doc.at(&[])?;
        match &ctx.routing {
            Routing::Modtager(system) => {
                let can = wire::read_valider_response(root).into_iter().any(|m| {
                    m.kan_modtage && &m.aktoer == system && m.myndighed == ctx.routing_myndighed
                });
                (!can).then(|| {
                    permanent(format!(
                        "system {system} at authority {} cannot receive documents (FordelingsmodtagerValider: KanModtage false)",
                        ctx.routing_myndighed
                    ))
                })
            }
            Routing::Kle { emne, facet } => {
                let systems = wire::read_list_response(root);
                systems.is_empty().then(|| {
                    permanent(format!(
                        "no system at authority {} receives KLE emne {emne}{} (FordelingsmodtagerList found none)",
                        ctx.routing_myndighed,
                        facet
                            .as_deref()
                            .map(|f| format!(" with handling facet {f}"))
                            .unwrap_or_default()
                    ))
                })
            }
        }
    }
}

/// What the FordelingsobjektAfsendResponse says.
fn afsend_outcome(
    service: &str,
    response: &Element,
    reply: Reply,
    confirm_within: std::time::Duration,
) -> DeliveryOutcome {
    let Some(k) = response.elements_named("ForretningsKvittering").next() else {
        return transient(format!(
            "{service} answered FordelingsobjektAfsend without a ForretningsKvittering"
        ));
    };
    let kvittering = match Kvittering::read(k) {
        Ok(k) => k,
        Err(e) => return transient(format!("{service}: {e}")),
    };
    let ids: knudepunkt_engine::message::ExternalIds = response
        .elements_named("DistributionContext")
        .next()
        .and_then(|c| c.text_at(&["DistributionTransktionsID"]))
        .map(|id| (TRANSACTION_ID.to_string(), id))
        .into_iter()
        .collect();
    match kvittering.kode {
        Kode::Modtaget | Kode::Afleveret => DeliveryOutcome::Accepted {
            reply: Some(reply),
            external_ids: ids,
            confirm_within,
        },
        Kode::Accepteret => DeliveryOutcome::Delivered {
            reply: Some(reply),
            external_ids: ids,
        },
        Kode::Afvist | Kode::Fejlet => DeliveryOutcome::Permanent {
            error: format!("{service} refused the document: {}", kvittering.reason()),
            reply: Some(reply),
        },
    }
}

#[async_trait]
impl Adapter for FordelingAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let forsendelse = match super::forsendelse::read(d.payload) {
            Ok(f) => f,
            Err(e) => return permanent(e),
        };
        let check = d
            .route
            .adapter_options
            .get("valider_modtager")
            .map(String::as_str)
            != Some("false");
        if check && let Some(outcome) = self.check_recipient(d, &forsendelse.anmodning).await {
            return outcome;
        }
        let sending = match self.access.sending(d) {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let confirm_within = sending.confirm_within;
        // The file first: the anmodning refers to it.
        let Some(server) = d.route.option_endpoints.get(SFTP_OPTION) else {
            return permanent(format!(
                "route {} names no deliver.options.{SFTP_OPTION} (where the file goes)",
                d.route.id
            ));
        };
        let target = match super::sftp::Target::of(server) {
            Ok(t) => t,
            Err(e) => return permanent(e),
        };
        let fil = forsendelse.fil;
        if let Err(e) = super::sftp::upload(
            &target,
            sending.sts.credential().clone(),
            &fil.navn,
            fil.content,
            server.timeout,
        )
        .await
        {
            return match e {
                super::sftp::UploadError::Transient(e) => transient(e),
                super::sftp::UploadError::Permanent(e) => permanent(e),
            };
        }
        let (status, doc, raw) = match self
            .operation(d, "FordelingsobjektAfsend", forsendelse.anmodning_xml)
            .await
        {
            Answer::Response(doc) => {
                let raw = doc.to_xml();
                (200, doc, raw)
            }
            Answer::Ended(outcome) => return outcome,
        };
        let reply = Reply {
            status,
            content_type: Some("text/xml".into()),
            body: raw.into_bytes(),
        };
        match doc.at(&[]) {
            Some(root) => afsend_outcome(&d.endpoint.name, root, reply, confirm_within),
            None => transient(format!("{} answered an empty response", d.endpoint.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(body: &str) -> String {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
    }

    fn outcome_of(kode: &str) -> DeliveryOutcome {
        let body = format!(
            r#"<fk:FordelingsobjektAfsendResponse {}><fk:ForretningsKvittering><fk2:ForretningsValideringsKode>{kode}</fk2:ForretningsValideringsKode><fk2:Kvitteringstype>Teknisk</fk2:Kvitteringstype><fk2:Begrundelse>Modtagersystemet er lukket</fk2:Begrundelse></fk:ForretningsKvittering><fk:DistributionContext><fk2:DistributionTransktionsID>7c9e6679-7425-40de-944b-e07fc1f90ae7</fk2:DistributionTransktionsID></fk:DistributionContext></fk:FordelingsobjektAfsendResponse>"#,
            wire::namespaces()
        );
        let Answer::Response(doc) = read("fk", "FordelingsobjektAfsend", 200, &envelope(&body))
        else {
            panic!("not a response")
        };
        let reply = Reply {
            status: 200,
            content_type: None,
            body: Vec::new(),
        };
        afsend_outcome(
            "fk",
            doc.at(&[]).unwrap(),
            reply,
            std::time::Duration::from_secs(60),
        )
    }

    #[test]
    fn the_kvittering_decides_the_outcome() {
        match outcome_of("MODTAGET") {
            DeliveryOutcome::Accepted { external_ids, .. } => assert_eq!(
                external_ids.get(TRANSACTION_ID).map(String::as_str),
                Some("7c9e6679-7425-40de-944b-e07fc1f90ae7")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            outcome_of("ACCEPTERET"),
            DeliveryOutcome::Delivered { .. }
        ));
        match outcome_of("AFVIST") {
            DeliveryOutcome::Permanent { error, .. } => {
                assert!(
                    error.contains("AFVIST: Modtagersystemet er lukket"),
                    "{error}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_faults_transport_kvittering_is_the_reason() {
        let fault = |code: &str| {
            envelope(&format!(
                r#"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>fejl</faultstring><detail>{}</detail></soap:Fault>"#,
                TransportKvittering::fejl(
                    "Anmodningen validerer ikke",
                    "V01",
                    "RoutingMyndighed mangler"
                )
                .to_xml(super::super::NS)
            ))
        };
        match read("fk", "FordelingsobjektAfsend", 500, &fault("Client")) {
            Answer::Ended(DeliveryOutcome::Permanent { error, .. }) => assert!(
                error.contains("Anmodningen validerer ikke: V01: RoutingMyndighed mangler"),
                "{error}"
            ),
            _ => panic!("a Client fault is permanent"),
        }
        assert!(matches!(
            read("fk", "FordelingsobjektAfsend", 500, &fault("Server")),
            Answer::Ended(DeliveryOutcome::Transient { .. })
        ));
        assert!(matches!(
            read("fk", "FordelingsobjektAfsend", 503, "busy"),
            Answer::Ended(DeliveryOutcome::Transient { .. })
        ));
    }
}
