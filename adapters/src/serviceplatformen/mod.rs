//! What every Serviceplatformen adapter shares: XML signatures (WS-Security), the STS
//! token client and client certificates.

pub mod access;
pub mod idws;
pub mod mtls;
pub mod profile;
pub mod security;

/// A Serviceplatformen REST call's transaction headers, as a step in building it.
pub trait WithTransaction {
    /// `X-TransaktionsId` (`id`) and `X-TransaktionsTid` (now).
    fn transaction(self, id: &str) -> Self;
}

impl WithTransaction for reqwest::RequestBuilder {
    fn transaction(self, id: &str) -> Self {
        self.header("X-TransaktionsId", id).header(
            "X-TransaktionsTid",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    }
}
