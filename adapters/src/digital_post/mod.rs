//! Digital Post through Serviceplatformen: letters out as MeMo in a `kombi_request` to
//! KombiPostAfsend (SF1601, REST, Holder-of-key access token), statuses back through
//! Beskedfordeler (PostStatusBeskedModtag); mail to the municipality collected from its
//! mailbox (Afhentningssystem). Clients, simulators and the status endpoint side by side.

pub mod afhentning;
pub mod client;
pub mod forespoerg;
pub mod forespoerg_simulator;
pub mod mailbox;
pub mod memo;
pub mod print;
pub mod print_simulator;
pub mod simulator;
pub mod status;

/// The adapter name routes use (`deliver.adapter`).
pub const ADAPTER: &str = "kombipost";
/// Where the sandbox serves KombiPostAfsend.
pub const KOMBI_PATH: &str = "/digitalpost/KombiPostAfsend_1/kombi";
/// Where Knudepunkt takes statuses from Beskedfordeler.
pub const STATUS_PATH: &str = "/beskedfordeler/PostStatusBeskedModtag";
/// Where the sandbox serves the municipality's Digital Post mailbox (Afhentning).
pub const AFHENTNING_PATH: &str = "/digitalpost/Afhentning_1";
/// The external ids a letter gets.
pub const MESSAGE_UUID: &str = "memo_message_uuid";
pub const TRANSACTION_ID: &str = "serviceplatformen_transaction_id";

/// The `memo:messageUUID` of a MeMo message.
pub fn message_uuid(memo: &[u8]) -> Option<String> {
    element_text(std::str::from_utf8(memo).ok()?, "messageUUID")
}

/// The text of the first element named `local` (with any prefix) in `xml`, trimmed:
/// for the few header fields read before a message is sent, without parsing it whole.
pub(crate) fn element_text(xml: &str, local: &str) -> Option<String> {
    let mut from = 0;
    loop {
        let at = from + xml[from..].find(local)?;
        let after = at + local.len();
        // `<local>` or `<prefix:local>`: between the `<` and the name, nothing or a prefix.
        let opens = xml[..at].rfind('<').is_some_and(|lt| {
            let prefix = &xml[lt + 1..at];
            prefix.is_empty()
                || prefix.strip_suffix(':').is_some_and(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
                })
        });
        if opens && xml[after..].starts_with('>') {
            let start = after + 1;
            let end = start + xml[start..].find('<')?;
            return Some(xml[start..end].trim().to_string());
        }
        from = after;
    }
}

/// The MeMo message without its XML declaration, to embed in a `kombi_request`.
pub fn without_declaration(memo: &str) -> &str {
    match memo.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map(|i| rest[i + 2..].trim_start())
            .unwrap_or(memo),
        None => memo.trim_start(),
    }
}

pub use crate::serviceplatformen::access::Access;
pub(crate) use crate::serviceplatformen::access::Sending;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_text_finds_opening_tags_with_or_without_a_prefix() {
        let xml = "<a:x><a:label>not this</a:label><b:messageUUID> 42 </b:messageUUID><label>plain</label></a:x>";
        assert_eq!(element_text(xml, "messageUUID").as_deref(), Some("42"));
        assert_eq!(element_text(xml, "label").as_deref(), Some("not this"));
        assert_eq!(
            element_text("<x>labels</x><label>y</label>", "label").as_deref(),
            Some("y")
        );
        assert_eq!(element_text("<a:x/>", "label"), None);
    }
}
