//! STS Sags- og dokumentindeks (SF1470, version 6): the index of cases and documents
//! that SAPA and Borgerblikket search. Knudepunkt keeps it current through the
//! `sts-service` adapter (importer, opdater, fjern); the sandbox plays the index, and
//! SAPA's search on it.

pub mod model;
pub mod reader;
pub mod simulator;

/// The operations' namespace (version 6).
pub const NS: &str = "urn:oio:sts:sagdok:sagdokumentindeks:6";
/// Where the sandbox serves the service.
pub const PATH: &str = "/sagdokumentindeks/6";
/// The SOAP action, with `{operation}` for the operation's name.
pub const ACTION: &str = "http://kombit.dk/sts/sagdokumentindeks/{operation}";
/// The operations' schema, under the schema directory.
pub const XSD: &str = "sf1470-sagdokindeks/wsdl/xsd/6.0.STS-0/SagDokumentIndeksOperationer.xsd";
/// The entity id the sandbox's index takes assertions for.
pub const ENTITY_ID: &str = "http://entityid.kombit.dk/service/sagdokumentindeks/6";
/// How a citizen is referred to as a part: `urn:oio:cpr-nr:` and the CPR number.
pub const CPR_URN: &str = "urn:oio:cpr-nr:";
