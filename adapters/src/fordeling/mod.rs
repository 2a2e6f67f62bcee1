//! STS Fordelingskomponent (SF2900, DistributionService 3): Knudepunkt sends a case
//! document to another authority's system with FordelingsobjektAfsend, after checking
//! with FordelingsmodtagerValider (or FordelingsmodtagerList, when the route routes by
//! KLE) that the recipient can take it. The service answers MODTAGET at once; the
//! receiving system's receipt comes later, when the Fordelingskomponent calls
//! Knudepunkt's FordelingskvitteringModtag (`DistributionServiceAnvenderV2.wsdl`), and
//! settles the delivery: ACCEPTERET delivers, AFVIST and FEJLET make it dead with the
//! receipt's reason. The sandbox plays the service and a receiving system.

pub mod client;
pub mod forsendelse;
pub mod kvittering;
pub mod sftp;
pub mod simulator;
pub mod wire;

/// The operations' namespace (DistributionService 3).
pub const NS: &str = "http://serviceplatformen.dk/xml/wsdl/soap11/DistributionService/3/types";
/// The namespace of the types the operations use, and of the anvender's receipt.
pub const NS2: &str = "http://serviceplatformen.dk/xml/wsdl/soap11/DistributionService/2/types";
/// The SOAP actions are this and the operation's name.
pub const ACTION: &str = "http://serviceplatformen.dk/xml/wsdl/soap11/DistributionService/3/port/";
/// The service's entity id (`sf2900-fordeling/sp/service.properties`).
pub const ENTITY_ID: &str = "http://sp.serviceplatformen.dk/service/fordeling/3";
/// Where the sandbox serves the service (the WSDL's address).
pub const PATH: &str = "/service/SP/Distribution/3";
/// Where Knudepunkt takes receipts, beside the other endpoints Serviceplatformen
/// calls (served over mTLS).
pub const KVITTERING_PATH: &str = "/fordeling/FordelingskvitteringModtag";
/// The operations' schema, under the schema directory.
pub const XSD: &str = "sf2900-fordeling/DistributionServiceMsg.xsd";
/// The schema of the receipt the service sends the anvender.
pub const ANVENDER_XSD: &str = "sf2900-fordeling/SF2900_EP_MS1-2/DistributionServiceMsgV2.xsd";
/// The adapter's name in routes.
pub const ADAPTER: &str = "fordelingskomponent";
/// The external id the distribution's DistributionTransktionsID is kept under.
pub const TRANSACTION_ID: &str = "fordeling_transaction_id";
/// The inbox kind of receipts that match no distribution.
pub const UNMATCHED: &str = "fordeling.unmatched_kvittering";
