//! Reading a MeMo 1.2 message that came in (Afhentningssystem): who sent it, to whom,
//! what it replies to (ReplyData: the messageUUID and caseID of our letter), the case
//! reference in ContentData, and its files. One streaming pass with quick-xml; the
//! schema check happens before, against the official XSD.

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde::Serialize;

/// What a MeMo message says, as the route's template and the case core read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReceivedMemo {
    pub message_uuid: String,
    /// DIGITALPOST or NEMSMS.
    pub message_type: String,
    pub label: String,
    pub notification: Option<String>,
    pub sender: Party,
    pub recipient: Party,
    /// ContentData/CaseID/caseID.
    pub case_id: Option<String>,
    pub kle: Option<String>,
    /// What the memo replies to: one entry per ReplyData.
    pub replies_to: Vec<ReplyTo>,
    pub created: Option<String>,
    /// The main document's files first, then the additional documents'.
    pub files: Vec<MemoFile>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    pub id: String,
    /// CPR, CVR, ...
    pub id_type: String,
    pub label: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplyTo {
    pub message_uuid: String,
    pub case_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoFile {
    /// `main` or `additional`.
    pub role: &'static str,
    pub filename: String,
    pub media_type: String,
    /// Base64, as it stands in the memo.
    pub content: String,
}

/// Why a memo could not be read; the position is the byte offset in the memo.
#[derive(Debug, thiserror::Error)]
pub enum MemoError {
    #[error("the memo is not well-formed XML at byte {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("the memo has no {0}")]
    Missing(&'static str),
}

/// Reads a MeMo message.
pub fn parse(xml: &[u8]) -> Result<ReceivedMemo, MemoError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut memo = ReceivedMemo::default();
    // The local names of the open elements, outermost first.
    let mut path: Vec<String> = Vec::new();
    let mut file = MemoFile::default();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| MemoError::Malformed {
                position: reader.error_position(),
                reason: e.to_string(),
            })?;
        match event {
            Event::Start(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match local.as_str() {
                    "ReplyData" => memo.replies_to.push(ReplyTo::default()),
                    "File" => {
                        file = MemoFile {
                            role: if path.iter().any(|p| p == "MainDocument") {
                                "main"
                            } else {
                                "additional"
                            },
                            ..MemoFile::default()
                        }
                    }
                    _ => {}
                }
                path.push(local);
            }
            Event::End(_)
                if path.pop().as_deref() == Some("File")
                    && path
                        .iter()
                        .any(|p| p == "MainDocument" || p == "AdditionalDocument") =>
            {
                memo.files.push(std::mem::take(&mut file));
            }
            Event::Text(t) => {
                let text = t
                    .xml_content()
                    .map_err(|e| MemoError::Malformed {
                        position: reader.buffer_position(),
                        reason: e.to_string(),
                    })?
                    .into_owned();
                take_text(&mut memo, &mut file, &path, text);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if memo.message_uuid.is_empty() {
        return Err(MemoError::Missing("MessageHeader/messageUUID"));
    }
    if memo.sender.id.is_empty() {
        return Err(MemoError::Missing("MessageHeader/Sender/senderID"));
    }
    Ok(memo)
}

fn take_text(memo: &mut ReceivedMemo, file: &mut MemoFile, path: &[String], text: String) {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    match names.as_slice() {
        [.., "MessageHeader", "messageUUID"] => memo.message_uuid = text,
        [.., "MessageHeader", "messageType"] => memo.message_type = text,
        [.., "MessageHeader", "label"] => memo.label = text,
        [.., "MessageHeader", "notification"] => memo.notification = Some(text),
        [.., "Sender", "senderID"] => memo.sender.id = text,
        [.., "Sender", "idType"] => memo.sender.id_type = text,
        [.., "Sender", "label"] => memo.sender.label = Some(text),
        [.., "Recipient", "recipientID"] => memo.recipient.id = text,
        [.., "Recipient", "idType"] => memo.recipient.id_type = text,
        [.., "Recipient", "label"] => memo.recipient.label = Some(text),
        [.., "ContentData", "CaseID", "caseID"] => memo.case_id = Some(text),
        [.., "ContentData", "KLEdata", "subjectKey"] => memo.kle = Some(text),
        [.., "ReplyData", "messageUUID"] => {
            if let Some(r) = memo.replies_to.last_mut() {
                r.message_uuid = text;
            }
        }
        [.., "ReplyData", "caseID"] => {
            if let Some(r) = memo.replies_to.last_mut() {
                r.case_id = Some(text);
            }
        }
        [.., "MessageBody", "createdDateTime"] => memo.created = Some(text),
        [.., "File", "encodingFormat"] => file.media_type = text,
        [.., "File", "filename"] => file.filename = text,
        [.., "File", "content"] => file.content = text,
        _ => {}
    }
}

/// A reply to one of our letters, as the citizen's mail system writes it: the letter's
/// messageUUID and case in ReplyData, the case in ContentData, one text file.
pub fn reply_to(
    letter_uuid: &str,
    case_id: &str,
    citizen_cpr: &str,
    citizen_name: &str,
    municipality_cvr: &str,
    text: &str,
) -> String {
    use base64::Engine as _;
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="1.2">
	<memo:MessageHeader>
		<memo:messageType>DIGITALPOST</memo:messageType>
		<memo:messageUUID>{uuid}</memo:messageUUID>
		<memo:label>Svar: afgørelse</memo:label>
		<memo:Sender>
			<memo:senderID>{cpr}</memo:senderID>
			<memo:idType>CPR</memo:idType>
			<memo:label>{name}</memo:label>
		</memo:Sender>
		<memo:Recipient>
			<memo:recipientID>{cvr}</memo:recipientID>
			<memo:idType>CVR</memo:idType>
		</memo:Recipient>
		<memo:ContentData>
			<memo:CaseID>
				<memo:caseID>{case}</memo:caseID>
				<memo:caseSystem>Knudepunkt</memo:caseSystem>
			</memo:CaseID>
		</memo:ContentData>
		<memo:ReplyData>
			<memo:messageUUID>{letter}</memo:messageUUID>
			<memo:caseID>{case}</memo:caseID>
		</memo:ReplyData>
	</memo:MessageHeader>
	<memo:MessageBody>
		<memo:createdDateTime>{now}</memo:createdDateTime>
		<memo:MainDocument>
			<memo:File>
				<memo:encodingFormat>text/plain</memo:encodingFormat>
				<memo:filename>svar.txt</memo:filename>
				<memo:language>da</memo:language>
				<memo:content>{content}</memo:content>
			</memo:File>
		</memo:MainDocument>
	</memo:MessageBody>
</memo:Message>
"#,
        uuid = uuid::Uuid::new_v4(),
        cpr = esc(citizen_cpr),
        name = esc(citizen_name),
        cvr = esc(municipality_cvr),
        case = esc(case_id),
        letter = esc(letter_uuid),
        now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        content = base64::engine::general_purpose::STANDARD.encode(text),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_reads_back_with_its_references_and_files() {
        let xml = reply_to(
            "8c2ea15d-61fb-4ba9-9366-42f8b194c114",
            "sag-1",
            "0101701234",
            "Anna",
            "64942212",
            "Tak & farvel",
        );
        let m = parse(xml.as_bytes()).unwrap();
        assert_eq!(m.message_type, "DIGITALPOST");
        assert_eq!(
            m.sender,
            Party {
                id: "0101701234".into(),
                id_type: "CPR".into(),
                label: Some("Anna".into())
            }
        );
        assert_eq!(m.case_id.as_deref(), Some("sag-1"));
        assert_eq!(
            m.replies_to,
            vec![ReplyTo {
                message_uuid: "8c2ea15d-61fb-4ba9-9366-42f8b194c114".into(),
                case_id: Some("sag-1".into())
            }]
        );
        assert_eq!(m.files.len(), 1);
        assert_eq!(
            (m.files[0].role, m.files[0].filename.as_str()),
            ("main", "svar.txt")
        );
    }

    #[test]
    fn broken_memos_say_where_and_what() {
        let e = parse(b"<memo:Message xmlns:memo=\"https://DigitalPost.dk/MeMo-1\"><memo:MessageHeader></memo:Message>").unwrap_err();
        assert!(matches!(e, MemoError::Malformed { .. }), "{e}");
        let e = parse(b"<memo:Message xmlns:memo=\"https://DigitalPost.dk/MeMo-1\"/>").unwrap_err();
        assert_eq!(e.to_string(), "the memo has no MessageHeader/messageUUID");
    }
}
