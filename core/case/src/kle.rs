//! KLE, the municipalities' subject classification (KL Emnesystematik).

use std::fmt;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KleError {
    #[error("a KLE subject number is three two-digit groups, e.g. 27.36.04")]
    SubjectFormat,
    #[error("a KLE action facet is a letter and two digits, e.g. G01")]
    FacetFormat,
}

/// A KLE subject number (emnenummer), e.g. `27.36.04`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KleNumber(String);

impl KleNumber {
    pub fn parse(input: &str) -> Result<Self, KleError> {
        let s = input.trim();
        let groups: Vec<&str> = s.split('.').collect();
        if groups.len() != 3
            || !groups
                .iter()
                .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(KleError::SubjectFormat);
        }
        Ok(KleNumber(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a role's grant (a main group `27`, a group `27.36` or a subject
    /// `27.36.04`) covers this subject.
    pub fn is_covered_by(&self, grant: &str) -> bool {
        self.0 == grant
            || (self.0.starts_with(grant) && self.0.as_bytes().get(grant.len()) == Some(&b'.'))
    }
}

impl fmt::Display for KleNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A KLE action facet (handlingsfacet), e.g. `G01` (general cases).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ActionFacet(String);

impl ActionFacet {
    pub fn parse(input: &str) -> Result<Self, KleError> {
        let b = input.trim().as_bytes();
        if b.len() != 3 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
            return Err(KleError::FacetFormat);
        }
        Ok(ActionFacet(input.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `grant` is a well-formed KLE grant: a main group, a group or a subject.
pub fn is_grant(grant: &str) -> bool {
    let groups: Vec<&str> = grant.split('.').collect();
    (1..=3).contains(&groups.len())
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_numbers_have_three_groups() {
        assert!(KleNumber::parse("27.36.04").is_ok());
        assert_eq!(KleNumber::parse("27.36"), Err(KleError::SubjectFormat));
        assert_eq!(KleNumber::parse("27.3.04"), Err(KleError::SubjectFormat));
        assert_eq!(KleNumber::parse("ab.cd.ef"), Err(KleError::SubjectFormat));
    }

    #[test]
    fn grants_cover_their_subtree_only() {
        let k = KleNumber::parse("27.36.04").unwrap();
        assert!(k.is_covered_by("27"));
        assert!(k.is_covered_by("27.36"));
        assert!(k.is_covered_by("27.36.04"));
        assert!(!k.is_covered_by("27.3"));
        assert!(!k.is_covered_by("27.36.08"));
        assert!(!k.is_covered_by("29"));
    }

    #[test]
    fn facets_are_a_letter_and_two_digits() {
        assert!(ActionFacet::parse("G01").is_ok());
        assert_eq!(ActionFacet::parse("g01"), Err(KleError::FacetFormat));
        assert_eq!(ActionFacet::parse("G1"), Err(KleError::FacetFormat));
        assert!(is_grant("27") && is_grant("27.36") && !is_grant("27.3"));
    }
}
