//! Calls to the SOAP services of the common municipal support systems (STS) on
//! Serviceplatformen: Sags- og dokumentindeks (SF1470), Ydelsesindeks (SF1490) and the
//! like. A route's template renders the operation's input element (e.g.
//! `ImporterSagDokumentIndeksInput`); the adapter names the operation after it, sends
//! it as an OIO IDWS call and reads the StandardRetur the service answers with.

pub mod client;
pub mod objekt;
pub mod retur;
pub mod service;

pub use client::{ADAPTER, StsServiceAdapter, StsServiceClient};
pub use retur::{Retur, Verdict};

/// The operation an input element asks for: its name's first word, in lower case
/// (`ImporterSagDokumentIndeksInput` is `importer`, `FjernInput` is `fjern`).
pub fn operation(input_element: &str) -> Option<String> {
    let mut chars = input_element.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    let end = chars
        .find(|(_, c)| c.is_ascii_uppercase())
        .map(|(i, _)| i)
        .unwrap_or(input_element.len());
    Some(input_element[..end].to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::operation;

    #[test]
    fn the_operation_is_the_input_elements_first_word() {
        assert_eq!(
            operation("ImporterSagDokumentIndeksInput").as_deref(),
            Some("importer")
        );
        assert_eq!(
            operation("OpdaterSagDokumentIndeksInput").as_deref(),
            Some("opdater")
        );
        assert_eq!(operation("FjernInput").as_deref(), Some("fjern"));
        assert_eq!(operation("fjern"), None);
        assert_eq!(operation(""), None);
    }
}
