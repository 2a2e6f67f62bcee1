//! Knudepunkt's envelope of one distribution (`mappings/fordeling/Forsendelse.xsd`): the
//! document's file and the FordelingsobjektAfsendRequest that names it. Read here into
//! the file (checked against its SHA-256, and against the name the anmodning gives it)
//! and the anmodning's own text, validated against KOMBIT's schema when the schema
//! folder is found.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::wire::Anmodning;
use crate::serviceplatformen::security::dom::Document;

/// The document's file.
#[derive(Debug, PartialEq, Eq)]
pub struct Fil {
    pub navn: String,
    pub mime_type: String,
    pub content: Vec<u8>,
}

/// A distribution, read.
#[derive(Debug)]
pub struct Forsendelse<'a> {
    pub fil: Fil,
    /// The FordelingsobjektAfsendRequest as it stands in the envelope (with its own
    /// namespace declarations).
    pub anmodning_xml: &'a str,
    pub anmodning: Anmodning,
}

/// The text of the element `qname` in `text`, from its start tag to its end tag.
fn element_text<'a>(text: &'a str, qname: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{qname}"))?;
    let close = format!("</{qname}>");
    let end = text[start..].find(&close)? + start + close.len();
    Some(&text[start..end])
}

/// Reads `payload`; the error says what is wrong, for the dead letter.
pub fn read(payload: &[u8]) -> Result<Forsendelse<'_>, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the forsendelse is not UTF-8")?;
    let doc = Document::parse(text).map_err(|e| format!("the forsendelse does not read: {e}"))?;
    let root = doc.at(&[]).ok_or("the forsendelse is empty")?;
    if root.local != "Forsendelse" {
        return Err(format!("{} is not a Forsendelse", root.local));
    }
    let fil = root
        .elements_named("Fil")
        .next()
        .ok_or("the forsendelse has no Fil")?;
    let attr = |name: &str| {
        fil.attr(name)
            .map(str::to_string)
            .ok_or_else(|| format!("Fil has no {name}"))
    };
    let navn = attr("navn")?;
    let sha256 = attr("sha256")?;
    let cleaned: String = fil.text().split_whitespace().collect();
    let content = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|e| format!("Fil {navn} is not base64: {e}"))?;
    if hex::encode(Sha256::digest(&content)) != sha256 {
        return Err(format!(
            "Fil {navn} does not match its SHA-256 ({sha256}): it changed on the way"
        ));
    }
    let request = root
        .elements()
        .find(|e| e.local == "FordelingsobjektAfsendRequest")
        .ok_or("the forsendelse has no FordelingsobjektAfsendRequest")?;
    let anmodning_xml = element_text(text, &request.qname())
        .ok_or("the FordelingsobjektAfsendRequest cannot be cut out of the forsendelse")?;
    if let Some(xsd) = knudepunkt_engine::schema_dir::locate()
        .map(|d| d.path.join(super::XSD))
        .filter(|p| p.is_file())
    {
        knudepunkt_engine::transform::xsd::validate(&xsd, anmodning_xml.as_bytes())
            .map_err(|e| format!("the anmodning does not validate: {e}"))?;
    }
    let anmodning = Anmodning::read(request)?;
    if anmodning.context.dokument_fil_navn.as_deref() != Some(navn.as_str()) {
        return Err(format!(
            "the anmodning's DokumentFilNavn is {:?}, but the file is {navn:?}",
            anmodning.context.dokument_fil_navn
        ));
    }
    Ok(Forsendelse {
        fil: Fil {
            navn,
            mime_type: attr("mimeType")?,
            content,
        },
        anmodning_xml,
        anmodning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../mappings/fordeling/examples")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_examples_read_and_their_anmodning_validates() {
        for name in ["document-to-authority.xml", "document-to-system.xml"] {
            let text = example(name);
            let f = read(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.fil.mime_type, "application/pdf");
            assert!(f.fil.content.starts_with(b"%PDF-1.4"));
            assert!(
                f.anmodning_xml
                    .starts_with("<fk:FordelingsobjektAfsendRequest")
            );
            assert!(
                f.anmodning_xml
                    .ends_with("</fk:FordelingsobjektAfsendRequest>")
            );
            assert_eq!(f.anmodning.objekt_type, "DOKUMENT");
        }
    }

    #[test]
    fn a_file_that_changed_or_is_named_otherwise_is_refused() {
        let text = example("document-to-authority.xml");
        let changed = text.replace("JVBERi0xLjQKJeLjz9MK", "JVBERi0xLjQKJeLjz9MX");
        let e = read(changed.as_bytes()).unwrap_err();
        assert!(e.contains("SHA-256"), "{e}");
        let renamed = text.replacen("navn=\"", "navn=\"x", 1);
        let e = read(renamed.as_bytes()).unwrap_err();
        assert!(e.contains("DokumentFilNavn"), "{e}");
        assert!(read(b"<other/>").unwrap_err().contains("Forsendelse"));
    }
}
