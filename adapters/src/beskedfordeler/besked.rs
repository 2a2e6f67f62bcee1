//! A Haendelsesbesked, read: what Knudepunkt and the simulator need of its envelope.

use serde::Serialize;

use crate::sagdokindeks::CPR_URN;
use crate::serviceplatformen::security::dom::{Document, Element};

pub const KUVERT_NS: &str = "urn:oio:besked:kuvert:1.0";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Besked {
    /// BeskedId: the sender's id for the message; everyone deduplicates on it.
    pub besked_id: String,
    pub beskedtype: String,
    pub ansvarlig_aktoer: Option<String>,
    /// TilladtModtager, as given (URNs or UUIDs).
    pub tilladte_modtagere: Vec<String>,
    /// Citizens the message is about (RelateretObjekt / ObjektRegistrering ObjektId).
    pub cprs: Vec<String>,
    /// KLE subjects (ObjektRegistrering OpgaveEmne).
    pub kle: Vec<String>,
    /// The Beskeddata's elements, as XML text.
    pub data: String,
    /// The Beskeddata's leaf elements' texts by local name (the first of each), for
    /// routes' templates.
    pub fields: std::collections::BTreeMap<String, String>,
}

/// The UUID or URN of a `UnikIdType` element.
fn unik_id(el: &Element) -> Option<String> {
    el.elements()
        .find(|c| c.local == "UUIDIdentifikator" || c.local == "URNIdentifikator")
        .map(|c| c.text().trim().to_string())
}

/// The content of the first element named `local` (any prefix), as written.
fn inner_xml<'a>(text: &'a str, local: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = text[from..].find('<') {
        let start = from + i;
        let rest = &text[start + 1..];
        let name_len = rest.find(|c: char| c == '>' || c == '/' || c.is_whitespace())?;
        let qname = &rest[..name_len];
        let name = qname.rsplit(':').next().unwrap_or(qname);
        if name == local {
            let open_end = start + 1 + rest.find('>')? + 1;
            if text[..open_end].ends_with("/>") {
                return Some("");
            }
            let close = format!("</{qname}>");
            let end = open_end + text[open_end..].find(&close)?;
            return Some(&text[open_end..end]);
        }
        from = start + 1;
    }
    None
}

/// `xml` read, with the path of its (first) Haendelsesbesked.
fn located(xml: &[u8]) -> Result<(Document, Vec<usize>), String> {
    let doc = Document::parse_bytes(xml).map_err(|e| format!("not XML: {e}"))?;
    let path = doc
        .find(KUVERT_NS, "Haendelsesbesked")
        .into_iter()
        .next()
        .ok_or("no Haendelsesbesked")?;
    Ok((doc, path))
}

/// The Haendelsesbesked in `xml` as a document of its own: `xml` itself when it is one,
/// else the element cut from what wraps it (a ModtagBeskedInput, a SOAP envelope), with
/// the namespace declarations it uses (exclusive canonical form).
pub fn haendelsesbesked(xml: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let (doc, path) = located(xml)?;
    if path.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(xml));
    }
    crate::serviceplatformen::security::c14n::subtree(&doc, &path, &Default::default())
        .map(|s| std::borrow::Cow::Owned(s.into_bytes()))
        .map_err(|e| format!("cutting out the Haendelsesbesked: {e}"))
}

/// Reads a Haendelsesbesked (alone, or inside a ModtagBeskedInput or an envelope); the
/// error names what is missing.
pub fn parse(xml: &[u8]) -> Result<Besked, String> {
    let (doc, path) = located(xml)?;
    let besked = doc.at(&path).ok_or("no Haendelsesbesked")?;
    let mut all = Vec::new();
    fn walk<'a>(el: &'a Element, out: &mut Vec<&'a Element>) {
        out.push(el);
        for c in el.elements() {
            walk(c, out);
        }
    }
    walk(besked, &mut all);
    fn named<'a, 'b>(
        all: &'b [&'a Element],
        local: &'b str,
    ) -> impl Iterator<Item = &'a Element> + 'b {
        all.iter().filter(move |e| e.local == local).copied()
    }
    let besked_id = named(&all, "BeskedId")
        .next()
        .and_then(unik_id)
        .ok_or("no BeskedId")?;
    let beskedtype = named(&all, "Beskedtype")
        .next()
        .and_then(unik_id)
        .ok_or("no Filtreringsdata/Beskedtype")?;
    let cprs = named(&all, "ObjektId")
        .filter_map(unik_id)
        .filter_map(|id| id.strip_prefix(CPR_URN).map(str::to_string))
        .fold(Vec::new(), |mut v, c| {
            if !v.contains(&c) {
                v.push(c);
            }
            v
        });
    let kle = named(&all, "OpgaveEmne")
        .filter_map(unik_id)
        .map(|k| {
            k.strip_prefix("urn:oio:kle:")
                .map(str::to_string)
                .unwrap_or(k)
        })
        .collect();
    let data = std::str::from_utf8(xml)
        .ok()
        .and_then(|text| inner_xml(text, "Beskeddata"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut fields = std::collections::BTreeMap::new();
    for data in named(&all, "Beskeddata") {
        let mut inside = Vec::new();
        walk(data, &mut inside);
        for leaf in inside
            .iter()
            .skip(1)
            .filter(|e| e.elements().next().is_none())
        {
            fields
                .entry(leaf.local.clone())
                .or_insert_with(|| leaf.text().trim().to_string());
        }
    }
    Ok(Besked {
        fields,
        besked_id,
        beskedtype,
        ansvarlig_aktoer: named(&all, "BeskedAnsvarligAktoer")
            .next()
            .and_then(unik_id),
        tilladte_modtagere: named(&all, "TilladtModtager").filter_map(unik_id).collect(),
        cprs,
        kle,
        data,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_envelope_is_read() {
        let xml = br#"<b:Haendelsesbesked xmlns:b="urn:oio:besked:kuvert:1.0" xmlns="urn:oio:sagdok:3.0.0"><b:BeskedId><UUIDIdentifikator>01157488-c45c-4fd2-b076-1de12effbf66</UUIDIdentifikator></b:BeskedId><b:BeskedVersion>1.0</b:BeskedVersion><b:Beskedkuvert><b:Filtreringsdata><b:Beskedtype><UUIDIdentifikator>7654895c-a3f3-4c77-8afd-4c77330f963c</UUIDIdentifikator></b:Beskedtype><b:TilladtModtager><URNIdentifikator>urn:oio:cvr-nr:64942212</URNIdentifikator></b:TilladtModtager><b:RelateretObjekt><b:ObjektId><URNIdentifikator>urn:oio:cpr-nr:0101901234</URNIdentifikator></b:ObjektId><b:ObjektType><UUIDIdentifikator>ce7fcf97-a8a2-447a-8690-d38aa0f6e23c</UUIDIdentifikator></b:ObjektType></b:RelateretObjekt><b:ObjektRegistrering><b:OpgaveEmne><URNIdentifikator>urn:oio:kle:27.36.12</URNIdentifikator></b:OpgaveEmne></b:ObjektRegistrering></b:Filtreringsdata><b:Leveranceinformation/></b:Beskedkuvert><b:Beskeddata><x:Data xmlns:x="urn:x">hej</x:Data></b:Beskeddata></b:Haendelsesbesked>"#;
        let b = super::parse(xml).unwrap();
        assert_eq!(b.besked_id, "01157488-c45c-4fd2-b076-1de12effbf66");
        assert_eq!(b.beskedtype, "7654895c-a3f3-4c77-8afd-4c77330f963c");
        assert_eq!(b.cprs, ["0101901234"]);
        assert_eq!(b.kle, ["27.36.12"]);
        assert_eq!(b.tilladte_modtagere, ["urn:oio:cvr-nr:64942212"]);
        assert!(
            b.data.contains("hej") && b.data.contains("urn:x"),
            "{}",
            b.data
        );
        assert_eq!(b.fields.get("Data").map(String::as_str), Some("hej"));
        assert!(
            super::parse(b"<x/>")
                .unwrap_err()
                .contains("Haendelsesbesked")
        );
    }
}
