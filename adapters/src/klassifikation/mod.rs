//! STS Klassifikation (SF1510, version 6): the KLE classification as Klasse objects
//! under the KLE facet, read with soeg (the facet's classes, a page at a time) and list
//! (the classes themselves, their current registration). Knudepunkt keeps the case
//! core's KLE in step with it. The schemas are in the reference data
//! (`sf1500-sf1510/.../KlasseOperationer.xsd`); the sandbox's Klassifikation is seeded
//! from KL's published emneplan ([`emneplan`]).

pub mod client;
pub mod emneplan;
pub mod simulator;
pub mod wire;

pub use client::KlassifikationClient;
pub use emneplan::{KleClass, Level};

/// The Klasse service's namespace.
pub const NS: &str = "http://stoettesystemerne.dk/klassifikation/klasse/6/";
/// The SOAP action, with `{operation}` (from the service's WSDL; SOAP 1.2).
pub const ACTION: &str = "http://kombit.dk/sts/klassifikation/klasse/{operation}";
/// The entity id the sandbox's Klassifikation takes assertions for.
pub const ENTITY_ID: &str = "http://entityid.kombit.dk/service/klassifikation/6";
/// Where the sandbox serves the Klasse service.
pub const PATH: &str = "/klassifikation/klasse/6";
/// The operations' schema, under the reference data.
pub const XSD: &str = "sf1500-sf1510/Tekniske specifikationer (v6.0 Services)/v6_0_0_0/xsd/6.0.STS-0/KlasseOperationer.xsd";
/// The KLE emneplan the sandbox is seeded from, under the reference data.
pub const EMNEPLAN: &str = "kle/KLE-Emneplan_Version2-0_2015-08-01.xml";

/// A class's UUID in the sandbox: derived from its KLE number, so it is the same on
/// every load.
pub fn uuid_of(number: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("urn:kle:{number}").as_bytes(),
    )
}

/// The KLE subject facet (Emne) in the sandbox; a real Klassifikation names its own,
/// which the profile's endpoint gives as `facet` in its URL's query.
pub fn kle_facet() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"urn:kle:facet:emne")
}
