//! What every Serviceplatformen adapter shares: XML signatures (WS-Security), the STS
//! token client and client certificates.

pub mod idws;
pub mod mtls;
pub mod profile;
pub mod security;
