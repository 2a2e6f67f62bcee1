//! The STS object services' soeg and list (OrganisationEnhed, Bruger,
//! OrganisationFunktion, Klasse) as Knudepunkt writes and reads them: the requests, the
//! UUIDs a soeg gives, an object as list gives it (its UUID, its current registration's
//! key, name and Virkning, and its relations with theirs), and the Virkning and
//! relations a sandbox writes into its answers.

use super::retur::SAGDOK_NS;
use crate::serviceplatformen::security::dom::{Document, Element};

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// soeg in the service of namespace `ns`: from `first`, at most `max`, the objects with
/// `relations` (empty: every object).
pub fn soeg(ns: &str, first: usize, max: usize, relations: &str) -> String {
    format!(
        r#"<o:SoegInput xmlns:o="{ns}" xmlns:sd="{SAGDOK_NS}"><sd:FoersteResultatReference>{first}</sd:FoersteResultatReference><sd:MaksimalAntalKvantitet>{max}</sd:MaksimalAntalKvantitet><o:AttributListe/><o:TilstandListe/><o:RelationListe>{relations}</o:RelationListe></o:SoegInput>"#
    )
}

/// list in the service of namespace `ns`: the objects `ids`.
pub fn list(ns: &str, ids: &[String]) -> String {
    let ids: String = ids
        .iter()
        .map(|i| format!("<sd:UUIDIdentifikator>{}</sd:UUIDIdentifikator>", esc(i)))
        .collect();
    format!(r#"<o:ListInput xmlns:o="{ns}" xmlns:sd="{SAGDOK_NS}">{ids}</o:ListInput>"#)
}

/// The UUIDs a soeg answered with (its IdListe).
pub fn ids(text: &str) -> Result<Vec<String>, String> {
    let doc = Document::parse(text).map_err(|e| format!("the answer does not read: {e}"))?;
    Ok(doc
        .find(SAGDOK_NS, "IdListe")
        .first()
        .and_then(|p| doc.at(p))
        .map(|l| {
            l.elements_named("UUIDIdentifikator")
                .map(|u| u.text().trim().to_string())
                .collect()
        })
        .unwrap_or_default())
}

/// A Virkning from `from` (YYYY-MM-DD) to `to` (none: until further notice).
pub fn virkning(from: &str, to: Option<&str>) -> String {
    let t = |d: Option<&str>| match d {
        Some(d) => format!("<sd:TidsstempelDatoTid>{d}T00:00:00</sd:TidsstempelDatoTid>"),
        None => "<sd:GraenseIndikator>true</sd:GraenseIndikator>".into(),
    };
    format!(
        "<sd:Virkning><sd:FraTidspunkt>{}</sd:FraTidspunkt><sd:TilTidspunkt>{}</sd:TilTidspunkt></sd:Virkning>",
        t(Some(from)),
        t(to)
    )
}

/// A relation `element` to the object `uuid`, in force over `virkning` (empty: no
/// Virkning of its own).
pub fn relation(element: &str, virkning: &str, uuid: &uuid::Uuid) -> String {
    format!(
        "<sd:{element}>{virkning}<sd:ReferenceID><sd:UUIDIdentifikator>{uuid}</sd:UUIDIdentifikator></sd:ReferenceID></sd:{element}>"
    )
}

/// A relation `element` to a URN.
pub fn relation_urn(element: &str, virkning: &str, urn: &str) -> String {
    format!(
        "<sd:{element}>{virkning}<sd:ReferenceID><sd:URNIdentifikator>{}</sd:URNIdentifikator></sd:ReferenceID></sd:{element}>",
        esc(urn)
    )
}

/// A relation as read: where it points (UUID or URN) and its Virkning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rel {
    pub to: String,
    pub from: Option<String>,
    pub until: Option<String>,
}

/// An object as read from list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Objekt {
    pub uuid: String,
    pub key: String,
    pub name: String,
    pub from: Option<String>,
    pub until: Option<String>,
    /// Relations by element name, in order.
    pub relations: Vec<(String, Rel)>,
}

impl Objekt {
    pub fn related(&self, element: &str) -> impl Iterator<Item = &Rel> {
        self.relations
            .iter()
            .filter(move |(e, _)| e == element)
            .map(|(_, r)| r)
    }
}

pub(crate) fn time(v: &Element, which: &str) -> Option<String> {
    v.elements_named(which)
        .next()?
        .elements_named("TidsstempelDatoTid")
        .next()
        .map(|t| t.text().trim().chars().take(10).collect())
}

pub(crate) fn deep_text(e: &Element, local: &str) -> Option<String> {
    if e.local == local {
        return Some(e.text().trim().to_string());
    }
    e.elements().find_map(|c| deep_text(c, local))
}

/// The objects (in namespace `ns`, their name in `name_element`) a list answered with,
/// each as its current (last) registration gives it.
pub fn read(ns: &str, name_element: &str, text: &str) -> Result<Vec<Objekt>, String> {
    let doc = Document::parse(text).map_err(|e| format!("the answer does not read: {e}"))?;
    let mut out = Vec::new();
    for p in doc.find(ns, "FiltreretOejebliksbillede") {
        let Some(f) = doc.at(&p) else { continue };
        let uuid = f
            .elements_named("ObjektType")
            .next()
            .and_then(|o| deep_text(o, "UUIDIdentifikator"))
            .ok_or("an object without its UUID")?;
        let Some(r) = f.elements_named("Registrering").last() else {
            continue;
        };
        let egenskab = r
            .elements_named("AttributListe")
            .next()
            .and_then(|a| a.elements_named("Egenskab").next())
            .ok_or_else(|| format!("object {uuid} has no Egenskab"))?;
        let v = egenskab.elements_named("Virkning").next();
        let relations = r
            .elements_named("RelationListe")
            .next()
            .map(|l| {
                l.elements()
                    .filter_map(|rel| {
                        let to = deep_text(rel, "UUIDIdentifikator")
                            .or_else(|| deep_text(rel, "URNIdentifikator"))?;
                        let rv = rel.elements_named("Virkning").next();
                        Some((
                            rel.local.clone(),
                            Rel {
                                to,
                                from: rv.and_then(|v| time(v, "FraTidspunkt")),
                                until: rv.and_then(|v| time(v, "TilTidspunkt")),
                            },
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Objekt {
            key: egenskab
                .text_at(&["BrugervendtNoegleTekst"])
                .ok_or_else(|| format!("object {uuid} has no BrugervendtNoegleTekst"))?,
            name: egenskab.text_at(&[name_element]).unwrap_or_default(),
            from: v.and_then(|v| time(v, "FraTidspunkt")),
            until: v.and_then(|v| time(v, "TilTidspunkt")),
            relations,
            uuid,
        });
    }
    Ok(out)
}
