//! DUBU, the children and young people's case system, and the handover of a young person
//! to the adult authority at 18. DUBU is reached through the municipality's integration
//! platform KKI (REST/JSON, KKI's API key). It lists the young people who turn 18 soon,
//! serves each one's handover package — a ustar archive whose first part is a manifest
//! giving every other part's size and SHA-256 — and takes a receipt or a refusal back.
//! Neither DUBU's nor KKI's contract is public in the reference data; [`model`] is
//! Knudepunkt's model of what DUBU can export, described in `mappings/dubu/README.md`.
//! [`package`] receives a package as a stream, checking it part by part, and refuses it
//! whole when it is incomplete or altered.

pub mod client;
pub mod model;
pub mod package;
pub mod simulator;
pub mod ustar;

pub use client::DubuClient;

/// Where the sandbox serves DUBU's API (through KKI).
pub const PATH: &str = "/kki/dubu/v1";
/// The profile's endpoint.
pub const ENDPOINT: &str = "kki-dubu";
/// The manifest's name in a package; it comes first.
pub const MANIFEST: &str = "manifest.json";
