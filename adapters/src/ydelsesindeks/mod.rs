//! STS Ydelsesindeks (SF1490, version 6): the index of the benefits municipalities grant,
//! with each grant's BevillingIndeks part. Knudepunkt keeps it current through the
//! `sts-service` adapter (importer, opdater; SOAP 1.2); a case removed from Sags- og
//! dokumentindeks with FjernOgsaaYdelse takes its benefits with it. KOMBIT's schema is
//! not in the reference data; Knudepunkt's model of it is
//! `mappings/ydelsesindeks/YdelseIndeks.xsd`.

pub mod model;
pub mod simulator;

/// The operations' namespace (version 6).
pub const NS: &str = "urn:oio:sts:ydelse:ydelseindeks:6";
/// Where the sandbox serves the service.
pub const PATH: &str = "/ydelsesindeks/6";
/// The SOAP action, with `{operation}` for the operation's name.
pub const ACTION: &str = "http://kombit.dk/sts/ydelseindeks/{operation}";
/// The entity id the sandbox's index takes assertions for.
pub const ENTITY_ID: &str = "http://entityid.kombit.dk/service/ydelsesindeks/6";
/// Knudepunkt's model of the operations' schema, under `mappings/`.
pub const MODEL_XSD: &str = "ydelsesindeks/YdelseIndeks.xsd";
