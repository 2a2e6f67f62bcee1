//! The index's content as the simulator keeps it, read from the operations' input
//! elements (SagIndeks, DokumentIndeks, OpdaterSagIndeks, OpdaterDokumentIndeks, and
//! Fjern by SagUuid or by a search on a document's BrugervendtNoegle).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::CPR_URN;
use crate::serviceplatformen::security::dom::Element;

/// A status over a period (the case's Fremdrift).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub status: String,
    pub from: Option<String>,
    /// `None` while it holds.
    pub to: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexedCase {
    pub uuid: String,
    pub key: Option<String>,
    pub title: Option<String>,
    pub sensitivity: Option<String>,
    pub category: Option<String>,
    pub history: Vec<Period>,
    pub org_unit: Option<String>,
    pub kle: Option<String>,
    pub cpr: Option<String>,
    /// Documents journalised on the case, with their titles.
    pub journal: BTreeMap<String, Option<String>>,
    /// Where the case is shown in the system that owns it (SagsitsystemRelation's
    /// SystemURI): SAPA's hop.
    pub link: Option<String>,
}

impl IndexedCase {
    /// The status that holds now: the period with no end, else the last.
    pub fn status(&self) -> Option<&str> {
        self.history
            .iter()
            .rev()
            .find(|p| p.to.is_none())
            .or(self.history.last())
            .map(|p| p.status.as_str())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexedDocument {
    pub uuid: String,
    pub key: Option<String>,
    pub title: Option<String>,
    pub letter_date: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub cpr: Option<String>,
    pub kle: Option<String>,
}

/// One change an input element asks for.
#[derive(Clone, Debug)]
pub enum Change {
    ImportCase(IndexedCase),
    ImportDocument(IndexedDocument),
    UpdateCase(IndexedCase, Option<String>),
    UpdateDocument(IndexedDocument),
    RemoveCase {
        uuid: String,
        keep_documents: bool,
        /// FjernOgsaaYdelse: the case's benefits leave the Ydelsesindeks too.
        also_benefits: bool,
    },
    RemoveDocumentsByKey(Vec<String>),
}

/// The index's content.
#[derive(Debug, Default)]
pub struct Index {
    pub cases: HashMap<String, IndexedCase>,
    pub documents: HashMap<String, IndexedDocument>,
}

pub use crate::sts_service::service::Refusal;

/// A relation's reference: its UUID or URN.
fn reference(rel: &Element) -> Option<String> {
    let id = rel.elements_named("ReferenceID").next()?;
    id.text_at(&["UUIDIdentifikator"])
        .or_else(|| id.text_at(&["URNIdentifikator"]))
}

/// A relation's BrugervendtNoegle in its local extension, if any.
fn extension_key(rel: &Element) -> Option<String> {
    let list = rel.elements_named("LokalUdvidelseListe").next()?;
    list.elements()
        .find_map(|e| e.text_at(&["BrugervendtNoegle"]))
}

fn cpr_of(rel: &Element) -> Option<String> {
    reference(rel).and_then(|r| r.strip_prefix(CPR_URN).map(str::to_string))
}

/// The last part of a URN, when no extension names the key.
fn urn_tail(r: &str) -> String {
    r.rsplit(':').next().unwrap_or(r).to_string()
}

fn instant(virkning: &Element, edge: &str) -> Option<String> {
    virkning.text_at(&[edge, "TidsstempelDatoTid"])
}

/// The case fields `registration` (a sag Registrering, or an OpdaterSagIndeks) gives.
fn read_case(uuid: String, reg: &Element) -> IndexedCase {
    let mut case = IndexedCase {
        uuid,
        ..Default::default()
    };
    if let Some(attrs) = reg.elements_named("AttributListe").next() {
        if let Some(e) = attrs.elements_named("Egenskaber").last() {
            case.key = e.text_at(&["BrugervendtNoegle"]);
            case.title = e.text_at(&["Titel"]);
        }
        if let Some(ext) = attrs
            .elements_named("LokalUdvidelseListe")
            .next()
            .and_then(|l| l.elements_named("SagIndeksEgenskaber").next())
        {
            case.sensitivity = ext.text_at(&["Foelsomhed"]);
            case.category = ext.text_at(&["Sagskategori"]);
        }
    }
    if let Some(states) = reg.elements_named("TilstandListe").next() {
        for f in states.elements_named("Fremdrift") {
            let Some(status) = f.text_at(&["FremdriftStatusKode"]) else {
                continue;
            };
            let v = f.elements_named("Virkning").next();
            case.history.push(Period {
                status,
                from: v.and_then(|v| instant(v, "FraTidspunkt")),
                to: v.and_then(|v| instant(v, "TilTidspunkt")),
            });
        }
    }
    if let Some(rels) = reg.elements_named("RelationListe").next() {
        if let Some(a) = rels.elements_named("Sagsaktoer").last() {
            case.org_unit = extension_key(a).or_else(|| reference(a).map(|r| urn_tail(&r)));
        }
        if let Some(k) = rels.elements_named("Sagsklasse").last() {
            case.kle = extension_key(k).or_else(|| reference(k).map(|r| urn_tail(&r)));
        }
        if let Some(p) = rels.elements_named("Sagspart").find_map(cpr_of) {
            case.cpr = Some(p);
        }
        if let Some(system) = rels
            .elements_named("LokalUdvidelseListe")
            .next()
            .and_then(|l| l.elements_named("SagsitsystemRelation").last())
        {
            case.link = system.text_at(&["SystemURI"]);
        }
        for j in rels.elements_named("Journalpost") {
            if let Some(doc) = reference(j) {
                let title = j
                    .elements_named("JournalpostEgenskaber")
                    .next()
                    .and_then(|e| e.text_at(&["Dokumenttitel"]));
                case.journal.insert(doc, title);
            }
        }
    }
    case
}

fn read_document(uuid: String, reg: &Element) -> IndexedDocument {
    let mut doc = IndexedDocument {
        uuid,
        ..Default::default()
    };
    if let Some(e) = reg
        .elements_named("AttributListe")
        .next()
        .and_then(|a| a.elements_named("Egenskaber").last())
    {
        doc.key = e.text_at(&["BrugervendtNoegle"]);
        doc.title = e.text_at(&["Titel"]);
        doc.letter_date = e.text_at(&["BrevDato"]);
        doc.kind = e.text_at(&["Type"]);
    }
    if let Some(f) = reg
        .elements_named("TilstandListe")
        .next()
        .and_then(|t| t.elements_named("Fremdrift").last())
    {
        doc.status = f.text_at(&["FremdriftStatusKode"]);
    }
    if let Some(rels) = reg.elements_named("RelationListe").next() {
        doc.cpr = rels.elements_named("Dokumentpart").find_map(cpr_of);
        doc.kle = rels
            .elements_named("Dokumentklasse")
            .last()
            .and_then(|k| extension_key(k).or_else(|| reference(k).map(|r| urn_tail(&r))));
    }
    doc
}

fn uuid_of(el: &Element) -> Result<String, Refusal> {
    el.text_at(&["UUIDIdentifikator"])
        .ok_or_else(|| Refusal(format!("{} har ingen UUIDIdentifikator", el.local)))
}

/// The changes an operation's input element asks for, in order.
pub fn changes(input: &Element) -> Result<Vec<Change>, Refusal> {
    let mut out = Vec::new();
    match input.local.as_str() {
        "ImporterSagDokumentIndeksInput" => {
            for c in input.elements() {
                let uuid = uuid_of(c)?;
                let reg = c
                    .elements_named("Registrering")
                    .last()
                    .ok_or_else(|| Refusal(format!("{} {uuid} har ingen Registrering", c.local)))?;
                match c.local.as_str() {
                    "SagIndeks" => out.push(Change::ImportCase(read_case(uuid, reg))),
                    "DokumentIndeks" => out.push(Change::ImportDocument(read_document(uuid, reg))),
                    other => return Err(Refusal(format!("{other} kan ikke importeres"))),
                }
            }
        }
        "OpdaterSagDokumentIndeksInput" => {
            for c in input.elements() {
                let uuid = uuid_of(c)?;
                match c.local.as_str() {
                    "OpdaterSagIndeks" => out.push(Change::UpdateCase(
                        read_case(uuid, c),
                        c.text_at(&["Tidspunkt"]),
                    )),
                    "OpdaterDokumentIndeks" => {
                        out.push(Change::UpdateDocument(read_document(uuid, c)))
                    }
                    other => return Err(Refusal(format!("{other} kan ikke opdateres"))),
                }
            }
        }
        "FjernSagDokumentIndeksInput" => {
            let keep_documents =
                input.text_at(&["EfterladSagsloeseDokumenter"]).as_deref() == Some("true");
            let also_benefits = input.text_at(&["FjernOgsaaYdelse"]).as_deref() == Some("true");
            for s in input.elements_named("SagUuid") {
                out.push(Change::RemoveCase {
                    uuid: uuid_of(s)?,
                    keep_documents,
                    also_benefits,
                });
            }
            if let Some(search) = input.elements_named("SoegUdtryk").next() {
                let keys: Vec<String> = search
                    .elements_named("SoegDokument")
                    .filter_map(|d| {
                        d.elements_named("AttributListe")
                            .next()
                            .and_then(|a| a.elements_named("Egenskaber").next())
                            .and_then(|e| e.text_at(&["BrugervendtNoegle"]))
                    })
                    .collect();
                if keys.is_empty() {
                    return Err(Refusal(
                        "fjern med SoegUdtryk understøttes kun på dokumenters BrugervendtNoegle"
                            .into(),
                    ));
                }
                out.push(Change::RemoveDocumentsByKey(keys));
            }
        }
        other => return Err(Refusal(format!("{other} er ikke en operation her"))),
    }
    Ok(out)
}

/// Closes the periods that `from` ends (the open ones starting before it).
fn close_open(history: &mut [Period], from: &Option<String>) {
    for p in history.iter_mut().filter(|p| p.to.is_none()) {
        if p.from <= *from {
            p.to = from.clone();
        }
    }
}

impl Index {
    /// Applies `changes` all or nothing: they are checked first, then applied.
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<(), Refusal> {
        for c in &changes {
            match c {
                Change::UpdateCase(u, _) if !self.cases.contains_key(&u.uuid) => {
                    return Err(Refusal(format!("Sag {} findes ikke i indekset", u.uuid)));
                }
                Change::UpdateDocument(u) if !self.documents.contains_key(&u.uuid) => {
                    return Err(Refusal(format!(
                        "Dokument {} findes ikke i indekset",
                        u.uuid
                    )));
                }
                _ => {}
            }
        }
        for c in changes {
            match c {
                Change::ImportCase(case) => {
                    self.cases.insert(case.uuid.clone(), case);
                }
                Change::ImportDocument(doc) => {
                    self.documents.insert(doc.uuid.clone(), doc);
                }
                Change::UpdateCase(u, _) => {
                    let case = self.cases.get_mut(&u.uuid).expect("checked above");
                    macro_rules! take {
                        ($($f:ident),*) => { $( if u.$f.is_some() { case.$f = u.$f; } )* };
                    }
                    take!(key, title, sensitivity, category, org_unit, kle, cpr, link);
                    for p in u.history {
                        close_open(&mut case.history, &p.from);
                        case.history.push(p);
                    }
                    case.journal.extend(u.journal);
                }
                Change::UpdateDocument(u) => {
                    let doc = self.documents.get_mut(&u.uuid).expect("checked above");
                    macro_rules! take {
                        ($($f:ident),*) => { $( if u.$f.is_some() { doc.$f = u.$f; } )* };
                    }
                    take!(key, title, letter_date, kind, status, cpr, kle);
                }
                Change::RemoveCase {
                    uuid,
                    keep_documents,
                    ..
                } => {
                    if let Some(case) = self.cases.remove(&uuid)
                        && !keep_documents
                    {
                        for doc in case.journal.keys() {
                            self.documents.remove(doc);
                        }
                    }
                }
                Change::RemoveDocumentsByKey(keys) => {
                    self.documents
                        .retain(|_, d| !d.key.as_ref().is_some_and(|k| keys.contains(k)));
                }
            }
        }
        Ok(())
    }

    /// A fremsoeg by SagUuid and DokumentUuid: a SagFiltreretOejebliksbillede for each
    /// case the index holds, with its Fremdrift (the periods, the current one open), and
    /// a DokumentFiltreretOejebliksbillede for each document it holds.
    pub fn fremsoeg(&self, input: &Element) -> String {
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        let mut out = String::new();
        let wanted: Vec<String> = input
            .elements_named("SagUuid")
            .map(|e| e.text().trim().to_string())
            .collect();
        for uuid in wanted {
            let Some(case) = self.cases.get(&uuid) else {
                continue;
            };
            let periods: String = case
                .history
                .iter()
                .map(|p| {
                    let edge = |name: &str, at: &Option<String>| match at {
                        Some(t) => format!(
                            "<sd:{name}><sd:TidsstempelDatoTid>{}</sd:TidsstempelDatoTid></sd:{name}>",
                            esc(t)
                        ),
                        None => format!(
                            "<sd:{name}><sd:GraenseIndikator>true</sd:GraenseIndikator></sd:{name}>"
                        ),
                    };
                    format!(
                        "<sag:Fremdrift><sag:Virkning>{}{}</sag:Virkning><sag:FremdriftStatusKode>{}</sag:FremdriftStatusKode></sag:Fremdrift>",
                        edge("FraTidspunkt", &p.from),
                        edge("TilTidspunkt", &p.to),
                        esc(&p.status)
                    )
                })
                .collect();
            out.push_str(&format!(
                r#"<sdi:SagFiltreretOejebliksbillede xmlns:sdi="{}" xmlns:sag="urn:oio:sts:sagdok:sag:6" xmlns:sd="urn:oio:sagdok:3.0.0"><sag:ObjektType><sd:UUIDIdentifikator>{}</sd:UUIDIdentifikator></sag:ObjektType><sag:Registrering><sag:AttributListe/><sag:TilstandListe>{periods}</sag:TilstandListe><sag:RelationListe/></sag:Registrering></sdi:SagFiltreretOejebliksbillede>"#,
                super::NS,
                esc(&uuid)
            ));
        }
        for uuid in input
            .elements_named("DokumentUuid")
            .map(|e| e.text().trim().to_string())
            .filter(|u| self.documents.contains_key(u))
        {
            out.push_str(&format!(
                r#"<sdi:DokumentFiltreretOejebliksbillede xmlns:sdi="{}" xmlns:di="urn:oio:sts:sagdok:dokumentindeks:6" xmlns:sd="urn:oio:sagdok:3.0.0"><di:ObjektType><sd:UUIDIdentifikator>{}</sd:UUIDIdentifikator></di:ObjektType></sdi:DokumentFiltreretOejebliksbillede>"#,
                super::NS,
                esc(&uuid)
            ));
        }
        out
    }
}
