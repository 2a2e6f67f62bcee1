//! The VANS envelope (`urn:oio:medcom:vans-envelope:1.0.4`) every MedCom message travels
//! in on the health network: who it is from and to (EAN), the envelope's own id and
//! time, and the message (its identifier, document name such as `MCM:XDIS91`, version,
//! size) with the Emessage base64-encoded, as it was written (its own encoding kept).
//! No public schema is published; the model is documented in `mappings/medcom/README.md`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::serviceplatformen::security::dom::{Document, Element, XmlError};

pub const NAMESPACE: &str = "urn:oio:medcom:vans-envelope:1.0.4";

#[derive(Debug, thiserror::Error)]
pub enum VansError {
    #[error("the envelope is not well-formed XML: {0}")]
    Xml(#[from] XmlError),
    #[error("the root is {0}, not a VANSEnvelope in {NAMESPACE}")]
    NotEnvelope(String),
    #[error("the envelope has no {0}")]
    Missing(&'static str),
    #[error("the envelope's Data is not base64: {0}")]
    Data(String),
    #[error("the envelope declares {declared} bytes, but its Data holds {actual}")]
    Size { declared: usize, actual: usize },
}

/// One VANS envelope with a message in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub sender_ean: String,
    pub receiver_ean: String,
    pub envelope_id: String,
    pub sent: String,
    /// The message's identifier (the Emessage's envelope identifier).
    pub identifier: String,
    /// `MCM:XDIS91`, `MCM:XCTL03`, ...
    pub document_name: String,
    pub version: String,
    /// The Emessage, byte for byte.
    pub data: Vec<u8>,
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

impl Envelope {
    pub fn to_xml(&self) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<VANSEnvelope xmlns="{NAMESPACE}" version="1.0.4">
  <SenderID EndPointType="EAN">{sender}</SenderID>
  <ReceiverID EndPointType="EAN">{receiver}</ReceiverID>
  <EnvelopeIdentifier>{envelope}</EnvelopeIdentifier>
  <SentDateTime>{sent}</SentDateTime>
  <Message>
    <MetaInformation>
      <Identifier>{identifier}</Identifier>
      <Document>
        <Format>XML</Format>
        <Name>{name}</Name>
        <Version>{version}</Version>
        <SizeInBytes>{size}</SizeInBytes>
      </Document>
      <Transport>
        <Type>reliable</Type>
      </Transport>
    </MetaInformation>
    <Data>{data}</Data>
  </Message>
</VANSEnvelope>
"#,
            sender = esc(&self.sender_ean),
            receiver = esc(&self.receiver_ean),
            envelope = esc(&self.envelope_id),
            sent = esc(&self.sent),
            identifier = esc(&self.identifier),
            name = esc(&self.document_name),
            version = esc(&self.version),
            size = self.data.len(),
            data = STANDARD.encode(&self.data),
        )
    }

    pub fn parse(xml: &[u8]) -> Result<Envelope, VansError> {
        let doc = Document::parse_bytes(xml)?;
        let root = &doc.root;
        let ns = doc
            .namespace_at(&[], root.prefix.as_deref())
            .unwrap_or_default();
        if root.local != "VANSEnvelope" || ns != NAMESPACE {
            return Err(VansError::NotEnvelope(format!("{{{ns}}}{}", root.local)));
        }
        let child = |el: &'_ Element, local: &'static str| -> Result<Element, VansError> {
            el.children_named(local)
                .next()
                .map(|(_, e)| e.clone())
                .ok_or(VansError::Missing(local))
        };
        let text = |el: &Element, local: &'static str| -> Result<String, VansError> {
            Ok(child(el, local)?.text().trim().to_string())
        };
        let message = child(root, "Message")?;
        let meta = child(&message, "MetaInformation")?;
        let document = child(&meta, "Document")?;
        let encoded: String = child(&message, "Data")?
            .text()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let data = STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| VansError::Data(e.to_string()))?;
        let declared: usize = text(&document, "SizeInBytes")?
            .parse()
            .map_err(|_| VansError::Missing("SizeInBytes as a number"))?;
        if declared != data.len() {
            return Err(VansError::Size {
                declared,
                actual: data.len(),
            });
        }
        Ok(Envelope {
            sender_ean: text(root, "SenderID")?,
            receiver_ean: text(root, "ReceiverID")?,
            envelope_id: text(root, "EnvelopeIdentifier")?,
            sent: text(root, "SentDateTime")?,
            identifier: text(&meta, "Identifier")?,
            document_name: text(&document, "Name")?,
            version: text(&document, "Version")?,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            sender_ean: "5790000120400".into(),
            receiver_ean: "5790001382438".into(),
            envelope_id: "0b9c4f0e-5c1a-4d8e-9d1e-0f4a7c2b1a10".into(),
            sent: "2026-11-27T10:00:00Z".into(),
            identifier: "KuvertNr012234".into(),
            document_name: "MCM:XDIS91".into(),
            version: "XD9134L".into(),
            data: b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><Emessage>\xd8</Emessage>"
                .to_vec(),
        }
    }

    #[test]
    fn an_envelope_reads_back_byte_for_byte() {
        let e = sample();
        assert_eq!(Envelope::parse(e.to_xml().as_bytes()).unwrap(), e);
    }

    #[test]
    fn a_wrong_size_or_root_is_named() {
        let xml = sample().to_xml();
        let wrong = xml.replace("<SizeInBytes>", "<SizeInBytes>1");
        assert!(matches!(
            Envelope::parse(wrong.as_bytes()),
            Err(VansError::Size { .. })
        ));
        let other = xml.replace(NAMESPACE, "urn:other");
        assert!(matches!(
            Envelope::parse(other.as_bytes()),
            Err(VansError::NotEnvelope(_))
        ));
        let no_data = xml.replace("<Data>", "<Dat>").replace("</Data>", "</Dat>");
        assert!(matches!(
            Envelope::parse(no_data.as_bytes()),
            Err(VansError::Missing("Data"))
        ));
    }
}
