//! Danmarks Statistik's intake of the municipality's statutory reports. Its upload
//! interface is not public here; Knudepunkt's model of it (`mappings/dst/README.md`) is
//! an HTTP upload of the report's file with the report, the period and the sender's id
//! for the submission in headers, answered with a receipt (kvittering), and a status
//! pushed back later: godkendt, or afvist with the reasons. [`client`] uploads,
//! [`simulator`] plays the intake.

pub mod client;
pub mod simulator;

/// The adapter's name in routes.
pub const ADAPTER: &str = "dst-upload";
/// Where the sandbox takes uploads.
pub const UPLOAD_PATH: &str = "/dst/indberetning";
/// The external id the receipt is kept under.
pub const RECEIPT: &str = "dst_kvittering";
/// The headers an upload carries.
pub const REPORT_HEADER: &str = "X-Indberetning";
pub const PERIOD_HEADER: &str = "X-Periode";
pub const SENDER_ID_HEADER: &str = "X-Indsender-Id";
pub const SHA256_HEADER: &str = "X-Indhold-Sha256";
