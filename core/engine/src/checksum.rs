//! SHA-256 integrity digests, taken at ingress and checked before every send and replay.

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sha256Digest([u8; 32]);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChecksumError {
    #[error("checksum is not 64 hex digits: {0:?}")]
    Malformed(String),
    #[error(
        "checksum mismatch: the journal records sha256 {expected}, the payload hashes to {actual}"
    )]
    Mismatch { expected: String, actual: String },
}

impl Sha256Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse_hex(s: &str) -> Result<Self, ChecksumError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ChecksumError::Malformed(s.to_string()))?;
        Ok(Sha256Digest(out))
    }

    /// Checks `payload` against this digest.
    pub fn verify(&self, payload: &[u8]) -> Result<(), ChecksumError> {
        let actual = Sha256Digest::of(payload);
        if actual == *self {
            Ok(())
        } else {
            Err(ChecksumError::Mismatch {
                expected: self.to_hex(),
                actual: actual.to_hex(),
            })
        }
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            Sha256Digest::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_detects_tampering() {
        let d = Sha256Digest::of(b"payload");
        assert!(d.verify(b"payload").is_ok());
        let err = d.verify(b"payl0ad").unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"));
        assert_eq!(Sha256Digest::parse_hex(&d.to_hex()).unwrap(), d);
        assert!(Sha256Digest::parse_hex("zz").is_err());
    }
}
