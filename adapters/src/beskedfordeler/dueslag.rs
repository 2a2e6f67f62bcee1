//! SF1461: Knudepunkt's pigeonhole (dueslag) at Beskedfordeler, consumed over AMQP with
//! manual acks. Each message is validated against `Beskedkuvert.xsd` and read; a Digital
//! Post status goes to the Digital Post status handling; anything else is published as
//! `beskedfordeler.received`, for the routes that subscribe to its Beskedtype
//! (`source.event.match.beskedtype`), whose idempotency key is the BeskedId, so a message
//! delivered twice is taken once. A type no route takes, and a message that does not
//! read, go to the operator inbox, not to the floor. A message is acked only once it is
//! journaled (or in the inbox); on a failure it is returned to the queue and tried
//! again.

use knudepunkt_engine::{Engine, Submitted};
use serde_json::json;

use super::amqp::Broker;
use super::{RECEIVED_EVENT, UNROUTED, XSD, besked};

/// The operator-inbox kind of messages that do not read.
pub const INVALID: &str = "beskedfordeler.invalid";

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Journaled for these routes.
    Routed(Vec<String>),
    /// Taken before (the same BeskedId): nothing done again.
    Duplicate,
    /// A Digital Post status, taken (StatusKode 20 or 40).
    DigitalPostStatus(u16),
    /// No route takes its type: in the operator inbox.
    Unrouted,
    /// It does not read or validate: in the operator inbox, with why.
    Invalid(String),
}

/// Takes one message. `Err` means try again later (the journal or inbox could not be
/// written, or a status overtook its letter).
pub async fn take(engine: &Engine, body: &[u8]) -> Result<Taken, String> {
    let besked_xml = besked::haendelsesbesked(body);
    let checked = besked_xml.and_then(|xml| match &engine.routes().schema_dir {
        Some(dir) => knudepunkt_engine::transform::xsd::validate(&dir.path.join(XSD), &xml)
            .map(|()| xml)
            .map_err(|e| e.to_string()),
        None => Ok(xml),
    });
    let parsed = checked.and_then(|xml| besked::parse(&xml));
    let besked = match parsed {
        Ok(b) => b,
        Err(why) => {
            let reference = format!("{:x}", sha2_of(body));
            engine
                .journal()
                .put_in_inbox(INVALID, &reference, &why, body, "application/xml")
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(reason = %why, "a Beskedfordeler message that does not read is in the operator inbox");
            return Ok(Taken::Invalid(why));
        }
    };
    if besked.beskedtype == crate::digital_post::status::beskedtype() {
        let (code, why) = crate::digital_post::status::take(engine, body).await;
        return match code {
            49 => Err(why.unwrap_or_else(|| "try again".into())),
            code => Ok(Taken::DigitalPostStatus(code)),
        };
    }
    let event = json!({
        "besked_id": besked.besked_id,
        "beskedtype": besked.beskedtype,
        "ansvarlig_aktoer": besked.ansvarlig_aktoer,
        "tilladte_modtagere": besked.tilladte_modtagere,
        "cprs": besked.cprs,
        "cpr": besked.cprs.first(),
        "kle": besked.kle,
        "data": besked.data,
        "fields": besked.fields,
        "received_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    let outcomes = engine
        .publish_now(RECEIVED_EVENT, &event)
        .await
        .map_err(|e| e.to_string())?;
    let routed: Vec<String> = outcomes
        .iter()
        .filter(|(_, s)| matches!(s, Submitted::Journaled(_)))
        .map(|(r, _)| r.clone())
        .collect();
    if !routed.is_empty() {
        return Ok(Taken::Routed(routed));
    }
    if outcomes
        .iter()
        .any(|(_, s)| matches!(s, Submitted::Duplicate(_)))
    {
        return Ok(Taken::Duplicate);
    }
    engine
        .journal()
        .put_in_inbox(
            UNROUTED,
            &besked.besked_id,
            &format!(
                "a Beskedfordeler message of type {} that no route takes",
                besked.beskedtype
            ),
            body,
            "application/xml",
        )
        .await
        .map_err(|e| e.to_string())?;
    tracing::warn!(besked_id = %besked.besked_id, beskedtype = %besked.beskedtype, "a Beskedfordeler message no route takes is in the operator inbox");
    Ok(Taken::Unrouted)
}

fn sha2_of(body: &[u8]) -> u128 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(body);
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

/// Consumes `queue` at `broker` until `stop` turns true, reconnecting after a failure.
pub async fn run(
    engine: Engine,
    broker: Broker,
    queue: String,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    crate::amqp_consumer::run(
        engine,
        broker,
        queue,
        32,
        "the Beskedfordeler dueslag",
        stop,
        async |engine: &Engine, body: &[u8]| {
            let taken = take(engine, body).await?;
            tracing::debug!(?taken, "a Beskedfordeler message was taken");
            Ok(())
        },
    )
    .await
}
