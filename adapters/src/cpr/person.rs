//! What a PersonLookup tells about one person, as Knudepunkt keeps it. A field CPR did
//! not give is `None` (or empty), never a guess.

use serde::{Deserialize, Serialize};

/// One person, as CPR gives them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub cpr: String,
    /// The number in force, when the person's number has changed.
    pub current_cpr: Option<String>,
    pub name: Option<Name>,
    /// YYYY-MM-DD.
    pub birth_date: Option<String>,
    /// CPR's status: 1 resident, 80 emigrated, 90 dead, ...
    pub status: Option<u32>,
    /// The current address in Denmark.
    pub address: Option<Address>,
    /// Where the person lives abroad (emigrated).
    pub abroad: Option<Abroad>,
    pub address_history: Vec<PastAddress>,
    /// Name and address protection (navne- og adressebeskyttelse) in force.
    pub address_protected: Option<bool>,
    /// Registered for Digital Post.
    pub digital_post: Option<bool>,
    pub spouse: Option<Relative>,
    /// The children's CPR numbers.
    pub children: Vec<String>,
    pub mother: Option<Relative>,
    pub father: Option<Relative>,
    /// Who has custody of the person (for a child).
    pub custody: Vec<Custody>,
    /// The person's guardian (værge), when one is appointed.
    pub guardian: Option<Guardian>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    /// The name as letters are addressed (personadresseringsnavn).
    pub addressing: String,
    pub given: Option<String>,
    pub middle: Option<String>,
    pub family: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub municipality_code: Option<u32>,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub floor: Option<String>,
    pub door: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    /// YYYY-MM-DD.
    pub moved_in: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastAddress {
    pub municipality_code: Option<u32>,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub moved_in: Option<String>,
    pub moved_out: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Abroad {
    pub country_code: Option<u32>,
    /// YYYY-MM-DD.
    pub since: Option<String>,
    pub lines: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relative {
    pub cpr: Option<String>,
    pub name: Option<String>,
    pub birth_date: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custody {
    /// 3 the mother, 4 the father, 5 and 6 another holder.
    pub kind: u32,
    pub cpr: Option<String>,
    pub since: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardian {
    pub cpr: Option<String>,
    pub name: Option<String>,
    pub since: Option<String>,
}

impl Address {
    /// One line: street, number, floor and door, postcode and city.
    pub fn line(&self) -> String {
        let mut street = [&self.street, &self.house_number]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect::<Vec<_>>()
            .join(" ");
        let unit = [&self.floor, &self.door]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect::<Vec<_>>()
            .join(". ");
        if !unit.is_empty() {
            street = format!("{street}, {unit}.");
        }
        let town = [&self.postcode, &self.city]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect::<Vec<_>>()
            .join(" ");
        [street, town]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_one_line() {
        let a = Address {
            street: Some("Nørrebrogade".into()),
            house_number: Some("12".into()),
            floor: Some("3".into()),
            door: Some("tv".into()),
            postcode: Some("2200".into()),
            city: Some("København N".into()),
            ..Default::default()
        };
        assert_eq!(a.line(), "Nørrebrogade 12, 3. tv., 2200 København N");
        let plain = Address {
            street: Some("Vesterbrogade".into()),
            house_number: Some("1".into()),
            ..Default::default()
        };
        assert_eq!(plain.line(), "Vesterbrogade 1");
    }
}
