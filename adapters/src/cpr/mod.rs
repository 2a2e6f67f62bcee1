//! CPR lookups through Serviceplatformen: SF1520 PersonBaseDataExtended version 4, the
//! operation PersonLookup, as an OIO IDWS SOAP 1.1 call with the STS's token for its
//! entity id. A lookup gives what CPR holds on one person: name, current address (or
//! where abroad), address history, status, address protection, Digital Post
//! registration, and relations (spouse, children, parents, custody, guardian). The
//! schema is `sf1520-cpr/PersonBaseDataExtendedServiceMsg.xsd` in the reference data.

pub mod client;
pub mod person;
pub mod population;
pub mod simulator;
pub mod wire;

pub use client::{CprClient, CprError};
pub use person::Person;

/// The operation's namespace.
pub const NS: &str = "http://serviceplatformen.dk/xml/wsdl/soap11/CPR/PersonBaseDataExtended/4/";
/// The PNR element's namespace.
pub const PNR_NS: &str = "http://serviceplatformen.dk/xml/schemas/cpr/PNR/1/";
/// The ServiceplatformFault's namespace.
pub const FAULT_NS: &str = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/";
/// The SOAP action (from the service's WSDL).
pub const ACTION: &str =
    "http://serviceplatformen.dk/xml/wsdl/soap11/CPR/PersonBaseDataExtended/4/PersonLookup";
/// The service's entity id (from its `service.properties`).
pub const ENTITY_ID: &str = "http://cpr.serviceplatformen.dk/service/personbasedataextended/4";
/// Where the sandbox serves it (the WSDL's address path).
pub const PATH: &str = "/service/CPR/PersonBaseDataExtended/4";
/// The schema, under the reference data.
pub const XSD: &str = "sf1520-cpr/PersonBaseDataExtendedServiceMsg.xsd";
/// The sandbox's ErrorCode for a number CPR does not know.
pub const NOT_FOUND: &str = "PNR_FINDES_IKKE";
