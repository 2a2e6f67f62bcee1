//! MedCom: OIOXML messages (`Emessage`) with hospitals, GPs and other parties on the
//! health network, each in a VANS envelope; every message answered by a receipt
//! (XCTL03 positive, XCTL02 negative). Knudepunkt's access point takes envelopes in,
//! the `vans` adapter sends them out, and the network simulator stands in for the VANS
//! access point with a hospital and a GP behind it.

pub mod access_point;
pub mod client;
pub mod emessage;
pub mod hospital;
pub mod simulator;
pub mod vans;

/// The adapter name routes use (`deliver.adapter`).
pub const ADAPTER: &str = "vans";
/// Where Knudepunkt takes envelopes from its VANS access point.
pub const INBOUND_PATH: &str = "/medcom/vans/modtag";
/// Where the sandbox's VANS access point takes envelopes to send on.
pub const SEND_PATH: &str = "/medcom/vans/afsend";
/// The event an incoming letter is published as (one per letter).
pub const RECEIVED_EVENT: &str = "medcom.received";
/// The event a receipt to send is published as.
pub const RECEIPT_EVENT: &str = "medcom.receipt_due";
/// The external ids an outgoing message gets: its envelope and letter identifiers.
pub const ENVELOPE_ID: &str = "medcom_envelope_id";
pub const LETTER_ID: &str = "medcom_letter_id";

/// The project's own model of XDIS21 (Plejeforløbsplan), which MedCom publishes no
/// schema for: its namespace, and its schema relative to the mappings folder.
pub const XDIS21_NAMESPACE: &str = "urn:knudepunkt:medcom:xdis21:1";
pub const XDIS21_SCHEMA: &str = "medcom/xdis21/Plejeforloebsplan.xsd";
/// The `schema_date` a message in that namespace gets.
pub const XDIS21_SCHEMA_SET: &str = "knudepunkt-xdis21";

/// The official schema a message of schema set `date` (e.g. `2006/07/01`) validates
/// against, relative to the schema folder.
pub fn schema_for(date: &str) -> String {
    format!("medcom/schemas/{date}/EMessage.xsd")
}

/// A MedCom identifier (at most 14 characters, as `String_1_14` allows) derived from
/// `seed`: the same seed gives the same identifier, so a message sent again keeps its
/// identifiers and the receiver deduplicates it. Templates make the same with
/// `short_id(name=seed, prefix=...)`.
pub fn identifier(prefix: &str, seed: &str) -> String {
    knudepunkt_engine::transform::helpers::short_id(prefix, seed, 14)
}

/// The shared reference formats, for unit tests (run from the crate's folder).
#[cfg(test)]
pub(crate) fn formats() -> std::path::PathBuf {
    knudepunkt_engine::schema_dir::locate()
        .map(|d| d.path)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/formats")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_fourteen_characters_and_stable() {
        let a = identifier("KP", "letter-1");
        assert_eq!(a.len(), 14);
        assert!(a.starts_with("KP"));
        assert_eq!(a, identifier("KP", "letter-1"));
        assert_ne!(a, identifier("KP", "letter-2"));
    }
}
