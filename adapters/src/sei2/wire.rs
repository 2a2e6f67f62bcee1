//! SEI2's messages as Knudepunkt reads and writes them: the calls in a submission's
//! envelope (`Indberetning`), and a call's answer (receipt, status, validation errors).

use quick_xml::events::Event;

use super::NS;
use crate::serviceplatformen::security::dom::Document;

/// One call in an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// `SchemaReport` or `SchemaCancel`.
    pub operation: String,
    pub schema_id: String,
    /// The operation's element, as it stands in the envelope (it declares its own
    /// namespace).
    pub xml: String,
}

/// The calls in `envelope`, in order; the error names what is wrong.
pub fn calls(envelope: &str) -> Result<Vec<Call>, String> {
    let mut reader = quick_xml::Reader::from_str(envelope);
    let mut depth = 0usize;
    let mut start = None;
    let mut out = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("the envelope does not read at byte {before}: {e}"))?;
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth == 2 {
                    let name = e.local_name();
                    let local = std::str::from_utf8(name.as_ref()).unwrap_or("");
                    if matches!(local, "SchemaReport" | "SchemaCancel") {
                        start = Some((local.to_string(), before));
                    }
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some((operation, from)) = start.take()
                {
                    let xml = envelope[from..reader.buffer_position() as usize].to_string();
                    let doc = Document::parse(&xml)
                        .map_err(|e| format!("{operation} #{}: {e}", out.len() + 1))?;
                    let schema_id = doc
                        .find(NS, "SchemaId")
                        .first()
                        .and_then(|p| doc.at(p))
                        .map(|e| e.text().trim().to_string())
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| format!("{operation} #{} has no SchemaId", out.len() + 1))?;
                    out.push(Call {
                        operation,
                        schema_id,
                        xml,
                    });
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err("the envelope ends before its elements close".into());
    }
    Ok(out)
}

/// SEI2's answer to one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub schema_id: String,
    pub receipt: String,
    pub accepted: bool,
    /// `(field, text)`, for a rejection.
    pub errors: Vec<(String, String)>,
}

/// The answer in a SOAP response's text, if it holds one.
pub fn answer(text: &str) -> Option<Answer> {
    let doc = Document::parse(text).ok()?;
    let first = |local: &str| {
        doc.find(NS, local)
            .first()
            .and_then(|p| doc.at(p))
            .map(|e| e.text().trim().to_string())
    };
    let errors = doc
        .find(NS, "ValidationError")
        .iter()
        .filter_map(|p| doc.at(p))
        .map(|e| {
            (
                e.attr("field").unwrap_or("").to_string(),
                e.text().trim().to_string(),
            )
        })
        .collect();
    Some(Answer {
        schema_id: first("SchemaId")?,
        receipt: first("Receipt")?,
        accepted: first("Status")? == "Accepted",
        errors,
    })
}

/// The answer's Body content: `SchemaReportResponse` or `SchemaCancelResponse`.
pub fn response(operation: &str, a: &Answer) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let errors: String = a
        .errors
        .iter()
        .map(|(field, text)| {
            format!(
                r#"<sei:ValidationError field="{}">{}</sei:ValidationError>"#,
                esc(field),
                esc(text)
            )
        })
        .collect();
    format!(
        r#"<sei:{operation}Response xmlns:sei="{NS}"><sei:SchemaId>{}</sei:SchemaId><sei:Receipt>{}</sei:Receipt><sei:Status>{}</sei:Status>{errors}</sei:{operation}Response>"#,
        esc(&a.schema_id),
        esc(&a.receipt),
        if a.accepted { "Accepted" } else { "Rejected" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelopes_calls_are_cut_out_in_order() {
        let env = format!(
            r#"<?xml version="1.0"?><sei:Indberetning xmlns:sei="{NS}"><sei:SubmissionId>s1</sei:SubmissionId><sei:Periode>2026-10</sei:Periode>
  <sei:SchemaReport xmlns:sei="{NS}"><sei:SchemaId>a-1</sei:SchemaId><sei:ReportingUnit><sei:Kommunekode>101</sei:Kommunekode></sei:ReportingUnit></sei:SchemaReport>
  <sei:SchemaCancel xmlns:sei="{NS}"><sei:SchemaId>b-2</sei:SchemaId></sei:SchemaCancel></sei:Indberetning>"#
        );
        let c = calls(&env).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].operation, "SchemaReport");
        assert_eq!(c[0].schema_id, "a-1");
        assert!(c[0].xml.starts_with("<sei:SchemaReport"));
        assert!(c[0].xml.ends_with("</sei:SchemaReport>"));
        assert_eq!(c[1].operation, "SchemaCancel");
        assert_eq!(c[1].schema_id, "b-2");
        let broken = env.replace("<sei:SchemaId>b-2</sei:SchemaId>", "");
        assert!(
            calls(&broken)
                .unwrap_err()
                .contains("SchemaCancel #2 has no SchemaId")
        );
        assert!(calls("<a><b>").is_err());
    }

    #[test]
    fn an_answer_reads_back() {
        let a = Answer {
            schema_id: "a-1".into(),
            receipt: "SEI2-7".into(),
            accepted: false,
            errors: vec![(
                "Behandlingsstart".into(),
                "ligger før <henvendelsen>".into(),
            )],
        };
        let text = response("SchemaReport", &a);
        assert_eq!(answer(&text), Some(a));
    }
}
