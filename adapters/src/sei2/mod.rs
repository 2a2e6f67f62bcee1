//! Sundhedsdatastyrelsen's SEI2, through which the national alcohol-treatment register
//! (NAB) is reported: one schema per course of treatment, reported with SchemaReport
//! (again under the same SchemaId, it updates the schema) and withdrawn with
//! SchemaCancel, each an OIO IDWS SOAP call with the STS's token and the holder-of-key
//! signature. The route's payload is Knudepunkt's envelope of a submission's calls
//! ([`wire`]); the adapter ([`client`]) sends them one by one and keeps the receipts
//! and SEI2's verdict. SEI2's definitions are not in the reference data; Knudepunkt's
//! model of them is `mappings/sei2/Sei2.xsd`.

pub mod client;
pub mod simulator;
pub mod wire;

/// The model's namespace.
pub const NS: &str = "urn:knudepunkt:model:sei2:1";
/// Where the sandbox serves the service.
pub const PATH: &str = "/sei2/indberetning";
/// The SOAP action, with `{operation}` for SchemaReport or SchemaCancel.
pub const ACTION: &str = "urn:knudepunkt:model:sei2:1/{operation}";
/// The entity id the sandbox's SEI2 takes assertions for.
pub const ENTITY_ID: &str = "http://sei2.sundhedsdatastyrelsen.dk/service/indberetning/1";
/// Knudepunkt's model of the schema, under `mappings/`.
pub const MODEL_XSD: &str = "sei2/Sei2.xsd";
