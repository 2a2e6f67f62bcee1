//! Reading a MedCom `Emessage` (OIOXML, any of the dated namespaces): the envelope and
//! each letter's identifiers, parties, patient and text, in the encoding the message
//! declares (windows-1252 and ISO-8859-1 as well as UTF-8), Danish letters intact.

use serde::Serialize;

use crate::serviceplatformen::security::dom::{Document, Element, Node, XmlError};

/// The namespaces MedCom's schemas are published under end in their date.
pub const NAMESPACE_PREFIX: &str = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/";

#[derive(Debug, thiserror::Error)]
pub enum EMessageError {
    #[error("not well-formed XML: {0}")]
    Xml(#[from] XmlError),
    #[error("the root is {0}, not a MedCom Emessage")]
    NotEmessage(String),
    #[error("{0} is missing")]
    Missing(&'static str),
}

// Options left out when empty, so that a template's `default` applies to them.

/// Someone a letter is from or to, by EAN location number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    pub ean: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Patient {
    pub cpr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
}

/// What a receipt says about the message it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Original {
    pub envelope_id: String,
    pub letter_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuse_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuse_text: Option<String>,
}

/// One letter of an Emessage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Letter {
    /// The element: ClinicalEmail, ReportOfAdmission, PositiveReceipt, ...
    pub kind: String,
    /// XDIS91, XDIS16, XCTL03, ...
    pub statistical_code: String,
    pub letter_id: String,
    pub version_code: String,
    pub sender: Party,
    pub receiver: Party,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<Patient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episode_of_care: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The clinical text, `<Break/>` as new lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The references' descriptions (`Reference/RefDescription`).
    pub references: Vec<String>,
    /// For a receipt: what it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
    /// Where an answer goes (`Sender/AnswerTo`), when the sender names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_to: Option<String>,
    /// The hospital's id for the stay (`Letter/NotificationIdentifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    /// When the patient was admitted (`Admission`), as `YYYY-MM-DDTHH:MM[:SS]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<String>,
    /// When the patient was discharged (`Discharge`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discharged_at: Option<String>,
    /// When treatment ends (`EndOfTreatment`, XDIS19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_treatment: Option<String>,
    /// When discharge is planned (`PlannedDischarge`, XDIS19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_discharge: Option<String>,
}

impl Letter {
    pub fn is_receipt(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "PositiveReceipt" | "NegativeReceipt" | "NegativeVansReceipt"
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EMessage {
    pub namespace: String,
    /// The schema set's date folder, e.g. `2006/07/01`.
    pub schema_date: String,
    pub envelope_id: String,
    /// `Sent` as `YYYY-MM-DDTHH:MM`.
    pub sent: String,
    /// `minuspositivkvitt` or `pluspositivkvitt`.
    pub acknowledgement: String,
    pub letters: Vec<Letter>,
}

impl EMessage {
    /// Whether the sender asked for a positive receipt.
    pub fn wants_positive_receipt(&self) -> bool {
        self.acknowledgement == "pluspositivkvitt"
    }
}

fn child<'a>(el: &'a Element, local: &'a str) -> Option<&'a Element> {
    el.children_named(local).next().map(|(_, e)| e)
}

fn text(el: &Element, local: &str) -> Option<String> {
    child(el, local)
        .map(|e| e.text().trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Text with `<Break/>` as a new line and `<Space/>` as a space.
fn breakable(el: &Element) -> String {
    let mut out = String::new();
    for c in &el.children {
        match c {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) if e.local == "Break" => out.push('\n'),
            Node::Element(e) if e.local == "Space" => out.push(' '),
            Node::Element(e) => out.push_str(&breakable(e)),
            _ => {}
        }
    }
    out
}

fn party(el: Option<&Element>) -> Party {
    let Some(el) = el else {
        return Party::default();
    };
    Party {
        ean: text(el, "EANIdentifier").unwrap_or_default(),
        organisation: text(el, "OrganisationName"),
        department: text(el, "DepartmentName"),
        unit: text(el, "UnitName"),
    }
}

fn letter(el: &Element) -> Result<Letter, EMessageError> {
    let head = child(el, "Letter").ok_or(EMessageError::Missing("Letter"))?;
    let patient = child(el, "Patient").and_then(|p| {
        Some(Patient {
            cpr: text(p, "CivilRegistrationNumber")?,
            given_name: text(p, "PersonGivenName"),
            surname: text(p, "PersonSurnameName"),
        })
    });
    // The clinical text, and a care plan's sections as "Headline" then their text.
    let clinical: Vec<String> = el
        .children
        .iter()
        .filter_map(|c| match c {
            Node::Element(e) if e.local == "ClinicalInformation" => {
                Some(breakable(e).trim().to_string())
            }
            Node::Element(e) if e.local == "Section" => Some(format!(
                "{}\n{}",
                text(e, "Headline").unwrap_or_default(),
                child(e, "SectionText")
                    .map(breakable)
                    .unwrap_or_default()
                    .trim()
            )),
            _ => None,
        })
        .filter(|t| !t.trim().is_empty())
        .collect();
    let original = child(el, "OriginalEmessage").map(|o| Original {
        envelope_id: text(o, "OriginalEnvelopeIdentifier").unwrap_or_default(),
        letter_ids: o
            .children_named("OriginalLetter")
            .filter_map(|(_, l)| text(l, "OriginalLetterIdentifier"))
            .collect(),
        refuse_code: text(o, "RefuseCode").or_else(|| {
            o.children_named("OriginalLetter")
                .find_map(|(_, l)| text(l, "RefuseCode"))
        }),
        refuse_text: child(o, "RefuseText")
            .map(breakable)
            .or_else(|| {
                o.children_named("OriginalLetter")
                    .find_map(|(_, l)| child(l, "RefuseText").map(breakable))
            })
            .map(|t| t.trim().to_string()),
    });
    Ok(Letter {
        kind: el.local.clone(),
        statistical_code: text(head, "StatisticalCode").unwrap_or_default(),
        letter_id: text(head, "Identifier").ok_or(EMessageError::Missing("Letter/Identifier"))?,
        version_code: text(head, "VersionCode").unwrap_or_default(),
        sender: party(child(el, "Sender")),
        receiver: party(child(el, "Receiver")),
        patient,
        episode_of_care: text(head, "EpisodeOfCareIdentifier"),
        subject: child(el, "AdditionalInformation").and_then(|a| text(a, "Subject")),
        text: (!clinical.is_empty()).then(|| clinical.join("\n\n")),
        references: el
            .children_named("Reference")
            .filter_map(|(_, r)| text(r, "RefDescription"))
            .collect(),
        original,
        answer_to: child(el, "Sender")
            .and_then(|s| child(s, "AnswerTo"))
            .and_then(|a| text(a, "EANIdentifier")),
        notification_id: text(head, "NotificationIdentifier"),
        admitted_at: child(el, "Admission").map(date_time),
        discharged_at: child(el, "Discharge").map(date_time),
        end_of_treatment: child(el, "EndOfTreatment").map(date_time),
        planned_discharge: child(el, "PlannedDischarge").map(date_time),
    })
}

/// A `DateTimeType` (or `DateTimeWithSecType`) as `YYYY-MM-DDTHH:MM[:SS]`.
fn date_time(el: &Element) -> String {
    let time = text(el, "Time")
        .or_else(|| text(el, "TimeWithSec"))
        .unwrap_or_default();
    format!("{}T{time}", text(el, "Date").unwrap_or_default())
}

/// Reads an Emessage from its bytes, in the encoding its declaration names.
pub fn parse(bytes: &[u8]) -> Result<EMessage, EMessageError> {
    let doc = Document::parse_bytes(bytes)?;
    let root = &doc.root;
    let namespace = doc
        .namespace_at(&[], root.prefix.as_deref())
        .unwrap_or_default();
    let ours = namespace == super::XDIS21_NAMESPACE;
    if root.local != "Emessage" || !(namespace.starts_with(NAMESPACE_PREFIX) || ours) {
        return Err(EMessageError::NotEmessage(format!(
            "{{{namespace}}}{}",
            root.local
        )));
    }
    let envelope = child(root, "Envelope").ok_or(EMessageError::Missing("Envelope"))?;
    let sent = child(envelope, "Sent")
        .map(|s| {
            format!(
                "{}T{}",
                text(s, "Date").unwrap_or_default(),
                text(s, "Time").unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let letters = root
        .children
        .iter()
        .filter_map(|c| match c {
            Node::Element(e) if e.local != "Envelope" && e.local != "Local_Elements" => Some(e),
            _ => None,
        })
        .map(letter)
        .collect::<Result<Vec<_>, _>>()?;
    if letters.is_empty() {
        return Err(EMessageError::Missing("a letter"));
    }
    Ok(EMessage {
        schema_date: if ours {
            super::XDIS21_SCHEMA_SET.to_string()
        } else {
            namespace[NAMESPACE_PREFIX.len()..]
                .trim_end_matches('/')
                .to_string()
        },
        namespace,
        envelope_id: text(envelope, "Identifier")
            .ok_or(EMessageError::Missing("Envelope/Identifier"))?,
        sent,
        acknowledgement: text(envelope, "AcknowledgementCode").unwrap_or_default(),
        letters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Option<Vec<u8>> {
        std::fs::read(crate::medcom::formats().join("medcom/examples").join(name)).ok()
    }

    #[test]
    fn the_windows_1252_correspondence_keeps_its_danish_letters() {
        let Some(bytes) = example("DIS91_1.xml") else {
            panic!("the MedCom examples are in ../shared/formats/medcom/examples");
        };
        assert!(
            bytes.contains(&0xD8),
            "the file is windows-1252 (Ø as one byte)"
        );
        let m = parse(&bytes).unwrap();
        assert_eq!(m.schema_date, "2006/07/01");
        assert_eq!(m.envelope_id, "KuvertNr012234");
        assert_eq!(m.sent, "1998-12-13T12:10");
        let l = &m.letters[0];
        assert_eq!(
            (l.kind.as_str(), l.statistical_code.as_str()),
            ("ClinicalEmail", "XDIS91")
        );
        assert_eq!(l.letter_id, "BrevNr00129");
        assert_eq!(l.sender.ean, "5790000120400");
        assert_eq!(l.sender.organisation.as_deref(), Some("HILLERØD SYGEHUS"));
        assert_eq!(l.receiver.department.as_deref(), Some("Læge"));
        assert_eq!(l.patient.as_ref().unwrap().cpr, "1502824933");
        assert_eq!(l.subject.as_deref(), Some("Forundersøgelse"));
        let text = l.text.as_deref().unwrap();
        assert!(
            text.contains("Røntgen af hofte i to planer.\nBlodtryksresultat"),
            "{text}"
        );
    }

    #[test]
    fn a_receipt_names_what_it_answers() {
        let m = parse(&example("CTL03_1.xml").unwrap()).unwrap();
        let l = &m.letters[0];
        assert!(l.is_receipt());
        let o = l.original.as_ref().unwrap();
        assert_eq!(o.envelope_id, "MEDREF01095");
        assert_eq!(o.letter_ids, vec!["1111FRE01095".to_string()]);
    }

    #[test]
    fn what_is_not_an_emessage_says_so() {
        assert!(matches!(
            parse(b"<Emessage/>"),
            Err(EMessageError::NotEmessage(_))
        ));
        assert!(matches!(parse(b"<a>"), Err(EMessageError::Xml(_))));
        let no_letter = br#"<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/"><Envelope><Identifier>K1</Identifier></Envelope></Emessage>"#;
        assert!(matches!(parse(no_letter), Err(EMessageError::Missing(_))));
    }
}
