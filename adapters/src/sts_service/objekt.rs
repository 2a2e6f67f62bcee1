//! An STS object as a list operation gives it (OrganisationEnhed, Bruger,
//! OrganisationFunktion, Klasse): its UUID, its current registration's key, name and
//! Virkning, and its relations with theirs.

use crate::serviceplatformen::security::dom::{Document, Element};

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
