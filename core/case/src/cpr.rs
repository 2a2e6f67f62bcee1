//! The CPR number (personnummer): the citizen's identity.

use std::fmt;

use chrono::NaiveDate;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CprError {
    #[error("a CPR number is ten digits, DDMMYY-SSSS (the hyphen is optional)")]
    Format,
    #[error("the CPR number's date {0} is not a real date")]
    Date(String),
}

/// A CPR number. Its `Display` masks the serial part; [`Cpr::expose`] gives it whole.
///
/// The check digit (modulus 11) is not required: numbers issued since 2007 need not
/// satisfy it. A number whose day is 61–91 is an *erstatningspersonnummer*, the fictive
/// number given to a person without a known CPR (the day plus 60).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpr(String);

impl Cpr {
    pub fn parse(input: &str) -> Result<Self, CprError> {
        let digits: String = match input.trim() {
            s if s.len() == 11 && s.as_bytes()[6] == b'-' => format!("{}{}", &s[..6], &s[7..]),
            s => s.to_string(),
        };
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CprError::Format);
        }
        let cpr = Cpr(digits);
        cpr.birth_date()?;
        Ok(cpr)
    }

    /// Whether this is a fictive number (erstatningspersonnummer) for an unknown person.
    pub fn is_fictive(&self) -> bool {
        self.day_field() > 60
    }

    /// The date of birth the number encodes (for a fictive number, the day less 60).
    pub fn birth_date(&self) -> Result<NaiveDate, CprError> {
        let n = |r: std::ops::Range<usize>| self.0[r].parse::<u32>().unwrap_or(0);
        let day = match self.day_field() {
            d if d > 60 => d - 60,
            d => d,
        };
        let (month, yy, seventh) = (n(2..4), n(4..6) as i32, n(6..7));
        // The century follows from the year and the seventh digit (CPR-kontoret's table).
        let century = match (seventh, yy) {
            (0..=3, _) => 1900,
            (4 | 9, 0..=36) => 2000,
            (4 | 9, _) => 1900,
            (5..=8, 0..=57) => 2000,
            (5..=8, _) => 1800,
            _ => return Err(CprError::Format),
        };
        NaiveDate::from_ymd_opt(century + yy, month, day)
            .ok_or_else(|| CprError::Date(format!("{}-{}", &self.0[..6], "****")))
    }

    fn day_field(&self) -> u32 {
        self.0[0..2].parse().unwrap_or(0)
    }

    /// The whole number, for storage and for the systems that need it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The number as people write it: DDMMYY-SSSS.
    pub fn formatted(&self) -> String {
        format!("{}-{}", &self.0[..6], &self.0[6..])
    }
}

impl fmt::Display for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-****", &self.0[..6])
    }
}

impl fmt::Debug for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cpr({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_with_and_without_hyphen_and_without_modulus_11() {
        let a = Cpr::parse("010190-1234").unwrap();
        let b = Cpr::parse("0101901234").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.birth_date().unwrap(),
            NaiveDate::from_ymd_opt(1990, 1, 1).unwrap()
        );
        assert!(!a.is_fictive());
    }

    #[test]
    fn centuries_follow_the_seventh_digit() {
        let year = |s: &str| {
            Cpr::parse(s)
                .unwrap()
                .birth_date()
                .unwrap()
                .format("%Y")
                .to_string()
        };
        assert_eq!(year("0101054000"), "2005");
        assert_eq!(year("0101504000"), "1950");
        assert_eq!(year("0101105000"), "2010");
        assert_eq!(year("0101605000"), "1860");
        assert_eq!(year("0101209000"), "2020");
        assert_eq!(year("0101409000"), "1940");
    }

    #[test]
    fn rejects_bad_format_and_impossible_dates() {
        assert_eq!(Cpr::parse("12345"), Err(CprError::Format));
        assert_eq!(Cpr::parse("01019A1234"), Err(CprError::Format));
        assert!(matches!(Cpr::parse("3102901234"), Err(CprError::Date(_))));
        assert!(matches!(Cpr::parse("0113901234"), Err(CprError::Date(_))));
        // 29 February exists only in leap years.
        assert!(Cpr::parse("2902004234").is_ok()); // 2000
        assert!(Cpr::parse("2902001234").is_err()); // 1900 was no leap year
        assert!(matches!(Cpr::parse("2902011234"), Err(CprError::Date(_))));
    }

    #[test]
    fn fictive_numbers_add_sixty_to_the_day() {
        let f = Cpr::parse("610190-1234").unwrap();
        assert!(f.is_fictive());
        assert_eq!(
            f.birth_date().unwrap(),
            NaiveDate::from_ymd_opt(1990, 1, 1).unwrap()
        );
        assert!(Cpr::parse("920190-1234").is_err());
    }

    #[test]
    fn display_and_debug_mask_the_serial() {
        let c = Cpr::parse("010190-1234").unwrap();
        assert_eq!(c.to_string(), "010190-****");
        assert_eq!(format!("{c:?}"), "Cpr(010190-****)");
        assert_eq!(c.expose(), "0101901234");
        assert_eq!(c.formatted(), "010190-1234");
    }
}
