//! Subscriptions are configuration (B3.270): the routes that take
//! `beskedfordeler.received` declare the Beskedtyper they take
//! (`source.event.match.beskedtype`), and Digital Post routes want their statuses.
//! [`reconcile`] makes the Beskedfordeler's subscription service agree for Knudepunkt's
//! dueslag, and says what it added and removed.

use knudepunkt_engine::RouteSet;
use serde::Serialize;

use super::RECEIVED_EVENT;
use super::simulator::Abonnement;

/// What a reconciliation found and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reconciled {
    pub added: Vec<Abonnement>,
    pub removed: Vec<Abonnement>,
    pub kept: Vec<Abonnement>,
    /// Nothing was changed (a dry run).
    pub dry_run: bool,
}

/// The subscriptions the routes declare for `dueslag`.
pub fn desired(routes: &RouteSet, dueslag: &str) -> Vec<Abonnement> {
    let mut out: Vec<Abonnement> = routes
        .matched_values(RECEIVED_EVENT, "beskedtype")
        .into_iter()
        .map(|(beskedtype, route)| Abonnement {
            dueslag: dueslag.to_string(),
            beskedtype,
            beskrivelse: format!("route {route}"),
        })
        .collect();
    if !routes
        .delivered_by(&[
            crate::digital_post::ADAPTER,
            crate::digital_post::print::ADAPTER,
        ])
        .is_empty()
    {
        out.push(Abonnement {
            dueslag: dueslag.to_string(),
            beskedtype: crate::digital_post::status::beskedtype(),
            beskrivelse: "Digital Post statuses (PostStatusBesked)".into(),
        });
    }
    out.sort();
    out.dedup_by(|a, b| a.beskedtype == b.beskedtype);
    out
}

/// Makes the subscription service at `service_url` hold exactly `desired` for
/// `dueslag`: adds what is missing, removes what no route declares.
pub async fn reconcile(
    http: &reqwest::Client,
    service_url: &str,
    dueslag: &str,
    desired: &[Abonnement],
    dry_run: bool,
) -> Result<Reconciled, String> {
    let held: Vec<Abonnement> = http
        .get(format!("{service_url}?dueslag={dueslag}"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("the subscription service at {service_url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the subscription service's answer: {e}"))?;
    let mut out = Reconciled {
        dry_run,
        ..Default::default()
    };
    for want in desired {
        if held.iter().any(|h| h.beskedtype == want.beskedtype) {
            out.kept.push(want.clone());
        } else {
            out.added.push(want.clone());
        }
    }
    for h in &held {
        if !desired.iter().any(|w| w.beskedtype == h.beskedtype) {
            out.removed.push(h.clone());
        }
    }
    if dry_run {
        return Ok(out);
    }
    for a in &out.added {
        http.post(service_url)
            .json(a)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("adding {}: {e}", a.beskedtype))?;
    }
    for r in &out.removed {
        http.delete(format!("{service_url}/{}/{}", r.dueslag, r.beskedtype))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("removing {}: {e}", r.beskedtype))?;
    }
    Ok(out)
}
