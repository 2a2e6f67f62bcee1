//! The case core's CPR register: Serviceplatformen's SF1520 PersonLookup through the
//! adapters' client, its answers turned into what the core keeps.

use std::sync::Arc;

use knudepunkt_adapters::cpr::person::Person;
use knudepunkt_adapters::cpr::{CprClient, CprError};
use knudepunkt_case::CaseCore;
use knudepunkt_case::cpr_lookup::{PersonRecord, PersonRegister, RegisterError, Relation};

pub struct CprRegister(pub CprClient);

fn relation(
    kind: &str,
    cpr: Option<String>,
    name: Option<String>,
    since: Option<String>,
) -> Relation {
    Relation {
        kind: kind.into(),
        cpr,
        name,
        since,
    }
}

/// What the core keeps of `p`.
pub fn record(p: Person) -> PersonRecord {
    let given = p.name.as_ref().and_then(|n| {
        let parts: Vec<&str> = [&n.given, &n.middle]
            .iter()
            .filter_map(|x| x.as_deref())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let address = match (&p.address, &p.abroad) {
        (Some(a), _) => Some(a.line()).filter(|l| !l.is_empty()),
        (None, Some(u)) => Some(u.lines.join(", ")).filter(|l| !l.is_empty()),
        (None, None) => None,
    };
    let history = p
        .address_history
        .iter()
        .map(|h| {
            let line = [&h.street, &h.house_number, &h.postcode, &h.city]
                .iter()
                .filter_map(|x| x.as_deref())
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "{line} ({} – {})",
                h.moved_in.as_deref().unwrap_or("?"),
                h.moved_out.as_deref().unwrap_or("")
            )
        })
        .collect();
    let mut relations = Vec::new();
    if let Some(s) = p.spouse {
        relations.push(relation("spouse", s.cpr, s.name, None));
    }
    for c in p.children {
        relations.push(relation("child", Some(c), None, None));
    }
    for (kind, r) in [("mother", p.mother), ("father", p.father)] {
        if let Some(r) = r {
            relations.push(relation(kind, r.cpr, r.name, None));
        }
    }
    for c in p.custody {
        relations.push(relation("custody", c.cpr, None, c.since));
    }
    if let Some(g) = p.guardian {
        relations.push(relation("guardian", g.cpr, g.name, g.since));
    }
    PersonRecord {
        cpr: p.cpr,
        given_name: given,
        family_name: p.name.as_ref().and_then(|n| n.family.clone()),
        status: p.status,
        address,
        municipality_code: p.address.as_ref().and_then(|a| a.municipality_code),
        address_history: history,
        address_protected: p.address_protected,
        digital_post: p.digital_post,
        relations,
    }
}

#[async_trait::async_trait]
impl PersonRegister for CprRegister {
    async fn person(&self, cpr: &knudepunkt_case::Cpr) -> Result<PersonRecord, RegisterError> {
        self.0
            .lookup(cpr.expose())
            .await
            .map(record)
            .map_err(|e| match e {
                CprError::NotFound(_) => RegisterError::NotFound,
                CprError::Transient(d) => RegisterError::Transient(d),
                CprError::Permanent(d) => RegisterError::Permanent(d),
            })
    }
}

/// Gives `core` the environment's CPR service, when the environment has one.
pub fn attach(core: &CaseCore, env: &knudepunkt_engine::Environment) {
    match CprClient::for_environment(env) {
        Ok(client) => core.set_person_register(Arc::new(CprRegister(client))),
        Err(why) => tracing::debug!(%why, "no CPR lookups in this environment"),
    }
}
