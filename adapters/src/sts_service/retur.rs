//! The StandardRetur every STS service answers with: StatusKode 20 (done), 40 (the
//! caller's error: do not try again) or 49 (anything else: try again), and a
//! FejlbeskedTekst. Operations on several objects answer one per object.

use crate::serviceplatformen::security::dom::Document;

/// The sagdok namespace StandardRetur is defined in.
pub const SAGDOK_NS: &str = "urn:oio:sagdok:3.0.0";

pub const OK: u16 = 20;
pub const CLIENT_ERROR: u16 = 40;
pub const OTHER_ERROR: u16 = 49;

/// One StandardRetur (or UnikRetur).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retur {
    pub status: u16,
    pub text: Option<String>,
}

/// What a whole answer amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// StatusKode 40 (or another 4x): permanent, with the service's text.
    Refused(String),
    /// StatusKode 49 (or another code): transient, with the service's text.
    Failed(String),
}

/// Every StandardRetur and UnikRetur in `doc`, in order.
pub fn read(doc: &Document) -> Vec<Retur> {
    let mut out = Vec::new();
    for local in ["StandardRetur", "UnikRetur"] {
        for path in doc.find(SAGDOK_NS, local) {
            let Some(el) = doc.at(&path) else { continue };
            let Some(status) = el.text_at(&["StatusKode"]).and_then(|s| s.parse().ok()) else {
                continue;
            };
            out.push(Retur {
                status,
                text: el.text_at(&["FejlbeskedTekst"]).filter(|t| !t.is_empty()),
            });
        }
    }
    out
}

/// The answer's verdict: refused if any part was refused, failed if any part failed,
/// ok if every part is 20; `None` when it holds no StandardRetur at all.
pub fn verdict(returs: &[Retur]) -> Option<Verdict> {
    if returs.is_empty() {
        return None;
    }
    let text = |r: &Retur| {
        format!(
            "StatusKode {}: {}",
            r.status,
            r.text.as_deref().unwrap_or("(no FejlbeskedTekst)")
        )
    };
    if let Some(r) = returs.iter().find(|r| (40..49).contains(&r.status)) {
        return Some(Verdict::Refused(text(r)));
    }
    if let Some(r) = returs.iter().find(|r| r.status != OK) {
        return Some(Verdict::Failed(text(r)));
    }
    Some(Verdict::Ok)
}

/// A StandardRetur element (prefix `sd`), for simulators' answers.
pub fn standard_retur(status: u16, text: Option<&str>) -> String {
    let text = text
        .map(|t| {
            format!(
                "<sd:FejlbeskedTekst>{}</sd:FejlbeskedTekst>",
                quick_xml::escape::escape(t)
            )
        })
        .unwrap_or_default();
    format!("<sd:StandardRetur><sd:StatusKode>{status}</sd:StatusKode>{text}</sd:StandardRetur>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(parts: &str) -> Document {
        Document::parse(&format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x:Out xmlns:x="urn:x" xmlns:sd="{SAGDOK_NS}">{parts}</x:Out></s:Body></s:Envelope>"#
        ))
        .unwrap()
    }

    #[test]
    fn every_part_must_be_20() {
        let ok = answer(&(standard_retur(20, None) + &standard_retur(20, None)));
        assert_eq!(verdict(&read(&ok)), Some(Verdict::Ok));
        let failed =
            answer(&(standard_retur(20, None) + &standard_retur(49, Some("database nede"))));
        assert_eq!(
            verdict(&read(&failed)),
            Some(Verdict::Failed("StatusKode 49: database nede".into()))
        );
        let refused =
            answer(&(standard_retur(49, None) + &standard_retur(40, Some("Ukendt sag <x>"))));
        assert_eq!(
            verdict(&read(&refused)),
            Some(Verdict::Refused("StatusKode 40: Ukendt sag <x>".into()))
        );
        assert_eq!(verdict(&read(&answer(""))), None);
    }
}
