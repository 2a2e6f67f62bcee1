//! Reading the index back: fremsoeg by SagUuid and by DokumentUuid, for the
//! reconciliation that compares the case core with what the index holds.

use std::collections::{HashMap, HashSet};

use knudepunkt_engine::environment::{Endpoint, Environment};

use super::{ACTION, NS};
use crate::serviceplatformen::idws::Soap;
use crate::serviceplatformen::security::dom::{Document, Element};
use crate::sts_service::StsServiceClient;

/// The endpoint profile name of the index.
pub const ENDPOINT: &str = "sagdokumentindeks";
/// Cases asked for in one fremsoeg.
pub const PAGE: usize = 100;

pub struct IndexReader {
    client: StsServiceClient,
    endpoint: Endpoint,
}

/// A fremsoeg for `uuids`, showing their Fremdrift.
pub fn request(uuids: &[String]) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let wanted: String = uuids
        .iter()
        .map(|u| format!("<sdi:SagUuid>{}</sdi:SagUuid>", esc(u)))
        .collect();
    format!(
        r#"<sdi:FremsoegSagDokumentIndeksInput xmlns:sdi="{NS}">{wanted}<sdi:Filter><sdi:SagVis><sdi:Vis>fremdrift</sdi:Vis></sdi:SagVis></sdi:Filter></sdi:FremsoegSagDokumentIndeksInput>"#
    )
}

/// A fremsoeg for the documents `uuids`.
pub fn documents_request(uuids: &[String]) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let wanted: String = uuids
        .iter()
        .map(|u| format!("<sdi:DokumentUuid>{}</sdi:DokumentUuid>", esc(u)))
        .collect();
    format!(
        r#"<sdi:FremsoegSagDokumentIndeksInput xmlns:sdi="{NS}">{wanted}<sdi:Filter><sdi:DokumentVis><sdi:Vis>egenskaber</sdi:Vis></sdi:DokumentVis></sdi:Filter></sdi:FremsoegSagDokumentIndeksInput>"#
    )
}

/// The documents a fremsoeg answer holds (their UUIDs).
pub fn documents_in(answer: &str) -> Result<HashSet<String>, String> {
    let doc = Document::parse(answer).map_err(|e| format!("the index's answer: {e}"))?;
    Ok(doc
        .find(NS, "DokumentFiltreretOejebliksbillede")
        .into_iter()
        .filter_map(|path| doc.at(&path))
        .filter_map(|found| found.text_at(&["ObjektType", "UUIDIdentifikator"]))
        .collect())
}

/// The cases a fremsoeg answer holds, with each one's current status (the Fremdrift
/// whose period is open, else the last).
pub fn statuses_in(answer: &str) -> Result<HashMap<String, String>, String> {
    let doc = Document::parse(answer).map_err(|e| format!("the index's answer: {e}"))?;
    let mut out = HashMap::new();
    for path in doc.find(NS, "SagFiltreretOejebliksbillede") {
        let Some(found) = doc.at(&path) else { continue };
        let Some(uuid) = found
            .elements_named("ObjektType")
            .next()
            .and_then(|o| o.elements_named("UUIDIdentifikator").next())
            .map(|u| u.text().trim().to_string())
        else {
            continue;
        };
        let periods: Vec<&Element> = found
            .elements_named("Registrering")
            .last()
            .and_then(|r| r.elements_named("TilstandListe").next())
            .map(|t| t.elements_named("Fremdrift").collect())
            .unwrap_or_default();
        let open = |f: &&Element| {
            f.elements_named("Virkning")
                .next()
                .and_then(|v| v.elements_named("TilTidspunkt").next())
                .is_none_or(|t| t.elements_named("GraenseIndikator").next().is_some())
        };
        let current = periods
            .iter()
            .rev()
            .find(|f| open(f))
            .or(periods.last())
            .and_then(|f| f.elements_named("FremdriftStatusKode").next())
            .map(|s| s.text().trim().to_string())
            .unwrap_or_default();
        out.insert(uuid, current);
    }
    Ok(out)
}

impl IndexReader {
    pub fn new(client: StsServiceClient, endpoint: Endpoint) -> Self {
        IndexReader { client, endpoint }
    }

    /// The reader for an environment's index endpoint.
    pub fn for_environment(env: &Environment) -> Result<Self, String> {
        let endpoint = env
            .endpoint(ENDPOINT)
            .cloned()
            .ok_or_else(|| format!("the {} profile has no {ENDPOINT} endpoint", env.name))?;
        Ok(Self::new(crate::sts_service_client(env), endpoint))
    }

    /// Which of the documents `uuids` the index holds.
    pub async fn documents(&self, uuids: &[String]) -> Result<HashSet<String>, String> {
        let mut out = HashSet::new();
        for page in uuids.chunks(PAGE) {
            let answer = self
                .client
                .ask(&self.endpoint, ACTION, Soap::V11, &documents_request(page))
                .await?;
            out.extend(documents_in(&answer)?);
        }
        Ok(out)
    }

    /// Which of `uuids` the index holds, and each one's current status.
    pub async fn statuses(&self, uuids: &[String]) -> Result<HashMap<String, String>, String> {
        let mut out = HashMap::new();
        for page in uuids.chunks(PAGE) {
            let answer = self
                .client
                .ask(&self.endpoint, ACTION, Soap::V11, &request(page))
                .await?;
            out.extend(statuses_in(&answer)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_validates_and_the_answer_reads() {
        let ids = ["019ac3f0-0000-7000-8000-0000000000c1".to_string()];
        if let Some(dir) = knudepunkt_engine::schema_dir::locate() {
            for req in [request(&ids), documents_request(&ids)] {
                knudepunkt_engine::transform::xsd::validate(
                    &dir.path.join(super::super::XSD),
                    req.as_bytes(),
                )
                .unwrap();
            }
        }
        let answer = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><sdi:FremsoegSagDokumentIndeksOutput xmlns:sdi="urn:oio:sts:sagdok:sagdokumentindeks:6" xmlns:sd="urn:oio:sagdok:3.0.0"><sd:StandardRetur><sd:StatusKode>20</sd:StatusKode></sd:StandardRetur><sdi:SagFiltreretOejebliksbillede xmlns:sag="urn:oio:sts:sagdok:sag:6"><sag:ObjektType><sd:UUIDIdentifikator>u1</sd:UUIDIdentifikator></sag:ObjektType><sag:Registrering><sag:TilstandListe><sag:Fremdrift><sag:Virkning><sd:TilTidspunkt><sd:TidsstempelDatoTid>2026-01-02T00:00:00Z</sd:TidsstempelDatoTid></sd:TilTidspunkt></sag:Virkning><sag:FremdriftStatusKode>Opstaaet</sag:FremdriftStatusKode></sag:Fremdrift><sag:Fremdrift><sag:Virkning><sd:TilTidspunkt><sd:GraenseIndikator>true</sd:GraenseIndikator></sd:TilTidspunkt></sag:Virkning><sag:FremdriftStatusKode>Oplyst</sag:FremdriftStatusKode></sag:Fremdrift></sag:TilstandListe></sag:Registrering></sdi:SagFiltreretOejebliksbillede></sdi:FremsoegSagDokumentIndeksOutput></s:Body></s:Envelope>"#;
        let found = statuses_in(answer).unwrap();
        assert_eq!(found.get("u1").map(String::as_str), Some("Oplyst"));
        assert_eq!(found.len(), 1);
    }
}
