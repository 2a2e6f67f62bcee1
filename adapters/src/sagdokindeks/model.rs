//! The index's content as the simulator keeps it, read from the operations' input
//! elements (SagIndeks, DokumentIndeks, OpdaterSagIndeks, OpdaterDokumentIndeks, and
//! Fjern by SagUuid or by a search on a document's BrugervendtNoegle).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::CPR_URN;
use crate::serviceplatformen::security::dom::{Element, Node};

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

fn elements<'a>(el: &'a Element, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    el.children.iter().filter_map(move |c| match c {
        Node::Element(e) if e.local == local => Some(e),
        _ => None,
    })
}

fn element<'a>(el: &'a Element, local: &str) -> Option<&'a Element> {
    el.children.iter().find_map(|c| match c {
        Node::Element(e) if e.local == local => Some(e),
        _ => None,
    })
}

/// The text at a path of child names under `el`.
fn text_at(el: &Element, path: &[&str]) -> Option<String> {
    let mut at = el;
    for local in path {
        at = element(at, local)?;
    }
    let t = at.text().trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// A relation's reference: its UUID or URN.
fn reference(rel: &Element) -> Option<String> {
    let id = element(rel, "ReferenceID")?;
    text_at(id, &["UUIDIdentifikator"]).or_else(|| text_at(id, &["URNIdentifikator"]))
}

/// A relation's BrugervendtNoegle in its local extension, if any.
fn extension_key(rel: &Element) -> Option<String> {
    let list = element(rel, "LokalUdvidelseListe")?;
    list.children.iter().find_map(|c| match c {
        Node::Element(e) => text_at(e, &["BrugervendtNoegle"]),
        _ => None,
    })
}

fn cpr_of(rel: &Element) -> Option<String> {
    reference(rel).and_then(|r| r.strip_prefix(CPR_URN).map(str::to_string))
}

/// The last part of a URN, when no extension names the key.
fn urn_tail(r: &str) -> String {
    r.rsplit(':').next().unwrap_or(r).to_string()
}

fn instant(virkning: &Element, edge: &str) -> Option<String> {
    text_at(virkning, &[edge, "TidsstempelDatoTid"])
}

/// The case fields `registration` (a sag Registrering, or an OpdaterSagIndeks) gives.
fn read_case(uuid: String, reg: &Element) -> IndexedCase {
    let mut case = IndexedCase {
        uuid,
        ..Default::default()
    };
    if let Some(attrs) = element(reg, "AttributListe") {
        if let Some(e) = elements(attrs, "Egenskaber").last() {
            case.key = text_at(e, &["BrugervendtNoegle"]);
            case.title = text_at(e, &["Titel"]);
        }
        if let Some(ext) =
            element(attrs, "LokalUdvidelseListe").and_then(|l| element(l, "SagIndeksEgenskaber"))
        {
            case.sensitivity = text_at(ext, &["Foelsomhed"]);
            case.category = text_at(ext, &["Sagskategori"]);
        }
    }
    if let Some(states) = element(reg, "TilstandListe") {
        for f in elements(states, "Fremdrift") {
            let Some(status) = text_at(f, &["FremdriftStatusKode"]) else {
                continue;
            };
            let v = element(f, "Virkning");
            case.history.push(Period {
                status,
                from: v.and_then(|v| instant(v, "FraTidspunkt")),
                to: v.and_then(|v| instant(v, "TilTidspunkt")),
            });
        }
    }
    if let Some(rels) = element(reg, "RelationListe") {
        if let Some(a) = elements(rels, "Sagsaktoer").last() {
            case.org_unit = extension_key(a).or_else(|| reference(a).map(|r| urn_tail(&r)));
        }
        if let Some(k) = elements(rels, "Sagsklasse").last() {
            case.kle = extension_key(k).or_else(|| reference(k).map(|r| urn_tail(&r)));
        }
        if let Some(p) = elements(rels, "Sagspart").find_map(cpr_of) {
            case.cpr = Some(p);
        }
        if let Some(system) = element(rels, "LokalUdvidelseListe")
            .and_then(|l| elements(l, "SagsitsystemRelation").last())
        {
            case.link = text_at(system, &["SystemURI"]);
        }
        for j in elements(rels, "Journalpost") {
            if let Some(doc) = reference(j) {
                let title = element(j, "JournalpostEgenskaber")
                    .and_then(|e| text_at(e, &["Dokumenttitel"]));
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
    if let Some(e) = element(reg, "AttributListe").and_then(|a| elements(a, "Egenskaber").last()) {
        doc.key = text_at(e, &["BrugervendtNoegle"]);
        doc.title = text_at(e, &["Titel"]);
        doc.letter_date = text_at(e, &["BrevDato"]);
        doc.kind = text_at(e, &["Type"]);
    }
    if let Some(f) = element(reg, "TilstandListe").and_then(|t| elements(t, "Fremdrift").last()) {
        doc.status = text_at(f, &["FremdriftStatusKode"]);
    }
    if let Some(rels) = element(reg, "RelationListe") {
        doc.cpr = elements(rels, "Dokumentpart").find_map(cpr_of);
        doc.kle = elements(rels, "Dokumentklasse")
            .last()
            .and_then(|k| extension_key(k).or_else(|| reference(k).map(|r| urn_tail(&r))));
    }
    doc
}

fn uuid_of(el: &Element) -> Result<String, Refusal> {
    text_at(el, &["UUIDIdentifikator"])
        .ok_or_else(|| Refusal(format!("{} har ingen UUIDIdentifikator", el.local)))
}

/// The changes an operation's input element asks for, in order.
pub fn changes(input: &Element) -> Result<Vec<Change>, Refusal> {
    let mut out = Vec::new();
    match input.local.as_str() {
        "ImporterSagDokumentIndeksInput" => {
            for c in input.children.iter().filter_map(|c| match c {
                Node::Element(e) => Some(e),
                _ => None,
            }) {
                let uuid = uuid_of(c)?;
                let reg = elements(c, "Registrering")
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
            for c in input.children.iter().filter_map(|c| match c {
                Node::Element(e) => Some(e),
                _ => None,
            }) {
                let uuid = uuid_of(c)?;
                match c.local.as_str() {
                    "OpdaterSagIndeks" => out.push(Change::UpdateCase(
                        read_case(uuid, c),
                        text_at(c, &["Tidspunkt"]),
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
                text_at(input, &["EfterladSagsloeseDokumenter"]).as_deref() == Some("true");
            let also_benefits = text_at(input, &["FjernOgsaaYdelse"]).as_deref() == Some("true");
            for s in elements(input, "SagUuid") {
                out.push(Change::RemoveCase {
                    uuid: uuid_of(s)?,
                    keep_documents,
                    also_benefits,
                });
            }
            if let Some(search) = element(input, "SoegUdtryk") {
                let keys: Vec<String> = elements(search, "SoegDokument")
                    .filter_map(|d| {
                        element(d, "AttributListe")
                            .and_then(|a| element(a, "Egenskaber"))
                            .and_then(|e| text_at(e, &["BrugervendtNoegle"]))
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

    /// A fremsoeg by SagUuid: a SagFiltreretOejebliksbillede for each case the index
    /// holds, with its Fremdrift (the periods, the current one open).
    pub fn fremsoeg(&self, input: &Element) -> String {
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        let mut out = String::new();
        let wanted: Vec<String> = elements(input, "SagUuid")
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
        out
    }

    /// The case a document is journalised on, if it is in the index.
    pub fn case_of(&self, document: &str) -> Option<&IndexedCase> {
        self.cases
            .values()
            .find(|c| c.journal.contains_key(document))
    }
}
