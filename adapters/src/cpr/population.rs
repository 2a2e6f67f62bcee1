//! The sandbox's population: every well-formed CPR number is a person, generated from
//! the number so that the same number always gives the same person, except numbers whose
//! serial begins with 99, which CPR does not know. About one in ten lives in another
//! municipality, two in a hundred abroad, four in a hundred have a protected address,
//! three in a hundred a guardian; some have a spouse, children and an address history.

use sha2::{Digest, Sha256};

use super::person::{Abroad, Address, Guardian, Name, PastAddress, Person, Relative};

const GIVEN: [&str; 16] = [
    "Anne", "Mette", "Søren", "Jørgen", "Åse", "Mads", "Freja", "Ida", "Lars", "Bo", "Karen",
    "Henrik", "Line", "Niels", "Birgitte", "Ærø",
];
const FAMILY: [&str; 12] = [
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Møller",
    "Østergaard",
];
const STREETS: [(&str, &str, &str); 8] = [
    ("Nørrebrogade", "2200", "København N"),
    ("Vesterbrogade", "1620", "København V"),
    ("Amagerbrogade", "2300", "København S"),
    ("Østerbrogade", "2100", "København Ø"),
    ("Valby Langgade", "2500", "Valby"),
    ("Frederikssundsvej", "2400", "København NV"),
    ("Tingbjerg Allé", "2700", "Brønshøj"),
    ("Sjællandsgade", "2200", "København N"),
];
/// Other municipalities (code, street, postcode, city) for those who live elsewhere.
const ELSEWHERE: [(u32, &str, &str, &str); 3] = [
    (147, "Gammel Kongevej", "1850", "Frederiksberg C"),
    (751, "Søndergade", "8000", "Aarhus C"),
    (461, "Vestergade", "5000", "Odense C"),
];

/// Whether CPR knows `cpr` (ten digits).
pub fn known(cpr: &str) -> bool {
    cpr.len() == 10 && cpr.bytes().all(|b| b.is_ascii_digit()) && !cpr[6..].starts_with("99")
}

/// A related number, made from the person's: the same birth day (a spouse, a guardian)
/// or a later one (a child), with a serial from the hash.
fn related(cpr: &str, year: u32, salt: u8, h: &[u8]) -> String {
    let serial = 1000 + (u16::from(h[(salt % 30) as usize]) * 31 + u16::from(salt)) % 8000;
    format!("{}{:02}{serial:04}", &cpr[..4], year % 100)
}

/// The person `cpr` is, or `None` when CPR does not know it.
pub fn person(cpr: &str) -> Option<Person> {
    if !known(cpr) {
        return None;
    }
    let h = Sha256::digest(cpr.as_bytes());
    let pick = |i: usize, n: usize| h[i] as usize % n;
    let yy: u32 = cpr[4..6].parse().ok()?;
    let year = if yy > 26 { 1900 + yy } else { 2000 + yy };
    let birth = format!("{year}-{}-{}", &cpr[2..4], &cpr[0..2]);
    let given = GIVEN[pick(0, GIVEN.len())];
    let family = FAMILY[pick(1, FAMILY.len())];
    let mut p = Person {
        cpr: cpr.to_string(),
        name: Some(Name {
            addressing: format!("{family},{given}"),
            given: Some(given.into()),
            middle: None,
            family: Some(family.into()),
        }),
        birth_date: chrono::NaiveDate::parse_from_str(&birth, "%Y-%m-%d")
            .ok()
            .map(|d| d.to_string()),
        status: Some(1),
        digital_post: Some(pick(2, 100) < 92),
        address_protected: Some(pick(3, 100) < 4),
        ..Default::default()
    };
    let home = pick(4, 100);
    let (street, postcode, city) = STREETS[pick(5, STREETS.len())];
    let number = (1 + pick(6, 150)).to_string();
    if home < 2 {
        p.status = Some(80);
        p.abroad = Some(Abroad {
            country_code: Some(5170),
            since: Some(format!("20{:02}-0{}-01", 15 + pick(7, 10), 1 + pick(8, 9))),
            lines: vec![format!("Storgatan {number}"), "211 20 Malmö".into()],
        });
    } else if home < 10 {
        let (code, street, postcode, city) = ELSEWHERE[pick(9, ELSEWHERE.len())];
        p.address = Some(Address {
            municipality_code: Some(code),
            street: Some(street.into()),
            house_number: Some(number),
            postcode: Some(postcode.into()),
            city: Some(city.into()),
            moved_in: Some(format!(
                "20{:02}-0{}-15",
                10 + pick(10, 15),
                1 + pick(11, 9)
            )),
            ..Default::default()
        });
    } else {
        p.address = Some(Address {
            municipality_code: Some(101),
            street: Some(street.into()),
            house_number: Some(number),
            floor: Some(pick(12, 6).to_string()),
            door: Some(["tv", "th", "mf"][pick(13, 3)].into()),
            postcode: Some(postcode.into()),
            city: Some(city.into()),
            moved_in: Some(format!(
                "20{:02}-0{}-01",
                10 + pick(14, 15),
                1 + pick(15, 9)
            )),
        });
    }
    if pick(16, 100) < 60
        && let Some(a) = &p.address
    {
        let (street, postcode, city) = STREETS[pick(17, STREETS.len())];
        p.address_history.push(PastAddress {
            municipality_code: Some(101),
            street: Some(street.into()),
            house_number: Some((1 + pick(18, 90)).to_string()),
            postcode: Some(postcode.into()),
            city: Some(city.into()),
            moved_in: Some("2005-09-01".into()),
            moved_out: a.moved_in.clone(),
        });
    }
    if year <= 2000 && pick(19, 100) < 40 {
        p.spouse = Some(Relative {
            cpr: Some(related(cpr, year, 1, &h)),
            ..Default::default()
        });
    }
    if year <= 1995 {
        for k in 0..pick(20, 4) {
            p.children
                .push(related(cpr, year + 25 + k as u32, 2 + k as u8, &h));
        }
    }
    if pick(21, 100) < 3 {
        p.guardian = Some(Guardian {
            cpr: Some(related(cpr, 1965, 9, &h)),
            name: Some(format!(
                "{} {}",
                GIVEN[pick(22, GIVEN.len())],
                FAMILY[pick(23, FAMILY.len())]
            )),
            since: Some("2020-03-01".into()),
        });
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_number_is_the_same_person_and_a_99_serial_is_nobody() {
        assert_eq!(person("0101901234"), person("0101901234"));
        assert!(person("0101909912").is_none());
        assert!(person("01019012").is_none());
        let p = person("0101901234").unwrap();
        assert_eq!(p.birth_date.as_deref(), Some("1990-01-01"));
    }

    #[test]
    fn the_population_has_its_share_of_each_kind() {
        let people: Vec<Person> = (0..2000)
            .filter_map(|i| person(&format!("0101{:02}{:04}", 50 + i % 40, 1000 + i)))
            .collect();
        let share = |f: &dyn Fn(&Person) -> bool| people.iter().filter(|p| f(p)).count();
        assert!(share(&|p| p.address_protected == Some(true)) > 20);
        assert!(share(&|p| p.guardian.is_some()) > 20);
        assert!(share(&|p| p.abroad.is_some()) > 10);
        assert!(
            share(&|p| p
                .address
                .as_ref()
                .is_some_and(|a| a.municipality_code != Some(101)))
                > 80
        );
        assert!(share(&|p| !p.children.is_empty()) > 100);
    }
}
