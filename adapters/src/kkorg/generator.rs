//! A generated organisation of Copenhagen's size for the sandbox: Københavns Kommune,
//! seven administrations, the Social Services Administration's four citizen centres with
//! 13 units under each adult centre, and in the other administrations centres,
//! departments and teams; about 3,100 units, 48,000 employees and 53,000 engagements
//! (about 100,000 rows). Every unit has a manager, every team a substitute for its
//! manager, and one unit begins next month. The demo's users (leder1, aktoer1, aktoer2,
//! redaktoer) are in it, in their units. The same day gives the same organisation.

use super::model::{Engagement, Enhed, Medarbejder};

/// An organisation: its units (parents before children) and employees.
#[derive(Clone, Debug, Default)]
pub struct Organisation {
    pub enheder: Vec<Enhed>,
    pub medarbejdere: Vec<Medarbejder>,
}

impl Organisation {
    /// Units, employees and engagements.
    pub fn rows(&self) -> usize {
        self.enheder.len()
            + self.medarbejdere.len()
            + self
                .medarbejdere
                .iter()
                .map(|m| m.engagementer.len())
                .sum::<usize>()
    }
}

const ADMINISTRATIONS: [(&str, &str); 7] = [
    ("sof", "Socialforvaltningen"),
    ("buf", "Børne- og Ungdomsforvaltningen"),
    ("suf", "Sundheds- og Omsorgsforvaltningen"),
    ("tmf", "Teknik- og Miljøforvaltningen"),
    ("kff", "Kultur- og Fritidsforvaltningen"),
    ("bif", "Beskæftigelses- og Integrationsforvaltningen"),
    ("okf", "Økonomiforvaltningen"),
];
const CITIZEN_CENTRES: [(&str, &str, usize); 4] = [
    ("bch", "Borgercenter Handicap", 13),
    ("bcv", "Borgercenter Voksne", 13),
    ("bcbu", "Borgercenter Børn og Unge", 10),
    ("bchj", "Borgercenter Hjemløse", 10),
];
const ADULT_UNITS: [&str; 13] = [
    "Myndighed Nord",
    "Myndighed Syd",
    "Myndighed Øst",
    "Myndighed Vest",
    "Bostøtte Amager",
    "Bostøtte Nørrebro",
    "Bostøtte Valby",
    "Hjemmevejledning",
    "Aktivitetstilbud",
    "Botilbud Lærkehøj",
    "Botilbud Ørestad",
    "Visitation",
    "Sekretariat",
];
const GIVEN: [&str; 12] = [
    "Anne", "Søren", "Mette", "Jørgen", "Åse", "Mads", "Freja", "Lars", "Ida", "Bo", "Karen",
    "Niels",
];
const FAMILY: [&str; 10] = [
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Larsen",
    "Sørensen",
    "Møller",
    "Østergaard",
    "Rasmussen",
];

struct Builder {
    org: Organisation,
    since: String,
    next: usize,
}

impl Builder {
    fn unit(&mut self, id: &str, name: &str, parent: Option<&str>) {
        let n = self.org.enheder.len();
        self.org.enheder.push(Enhed {
            id: id.into(),
            navn: name.into(),
            overordnet: parent.map(str::to_string),
            pnummer: Some(format!("10{:08}", 1000 + n)),
            adresse: Some(format!("Rådhuspladsen {}, 1550 København V", 1 + n % 90)),
            leder: None,
            gyldig_fra: self.since.clone(),
            gyldig_til: None,
        });
    }

    /// `n` employees in unit `id`; the first manages it, the second substitutes for
    /// the first. Every tenth has a second engagement in the parent unit.
    fn staff(&mut self, id: &str, parent: Option<&str>, n: usize) {
        let mut first = None;
        for k in 0..n {
            self.next += 1;
            let user = format!("m{:06}", self.next);
            let mut engagementer = vec![Engagement {
                enhed: id.into(),
                stilling: Some(if k == 0 { "Leder" } else { "Medarbejder" }.into()),
                gyldig_fra: self.since.clone(),
                gyldig_til: None,
            }];
            if self.next.is_multiple_of(10)
                && let Some(p) = parent
            {
                engagementer.push(Engagement {
                    enhed: p.into(),
                    stilling: Some("Projektmedarbejder".into()),
                    gyldig_fra: self.since.clone(),
                    gyldig_til: None,
                });
            }
            let stedfortraeder_for = match (k, &first) {
                (1, Some(leader)) => vec![String::clone(leader)],
                _ => Vec::new(),
            };
            self.org.medarbejdere.push(Medarbejder {
                id: user.clone(),
                // KK-ORG2 carries the user's UUID in STS Organisation.
                uuid: Some(crate::sts_organisation::uuid_of("bruger", &user).to_string()),
                navn: format!(
                    "{} {}",
                    GIVEN[self.next % GIVEN.len()],
                    FAMILY[(self.next / GIVEN.len()) % FAMILY.len()]
                ),
                engagementer,
                stedfortraeder_for,
                gyldig_fra: self.since.clone(),
                gyldig_til: None,
            });
            if k == 0 {
                first = Some(user);
            }
        }
        if let Some(leader) = first
            && let Some(u) = self.org.enheder.iter_mut().find(|u| u.id == id)
        {
            u.leder = Some(leader);
        }
    }

    fn person(&mut self, id: &str, name: &str, unit: &str) {
        self.org.medarbejdere.push(Medarbejder {
            id: id.into(),
            uuid: Some(crate::sts_organisation::uuid_of("bruger", id).to_string()),
            navn: name.into(),
            engagementer: vec![Engagement {
                enhed: unit.into(),
                stilling: None,
                gyldig_fra: self.since.clone(),
                gyldig_til: None,
            }],
            stedfortraeder_for: Vec::new(),
            gyldig_fra: self.since.clone(),
            gyldig_til: None,
        });
    }
}

/// Copenhagen's organisation; `staff` employees in each team (18 gives about 100,000
/// rows), `next_month` the first day of next month (the unit that begins then).
pub fn copenhagen(staff: usize, next_month: &str) -> Organisation {
    let mut b = Builder {
        org: Organisation::default(),
        since: "2020-01-01".into(),
        next: 0,
    };
    b.unit("kk", "Københavns Kommune", None);
    for (id, name) in ADMINISTRATIONS {
        b.unit(id, name, Some("kk"));
    }
    for (id, name, units) in CITIZEN_CENTRES {
        b.unit(id, name, Some("sof"));
        for k in 0..units {
            let unit = format!("{id}-{:02}", k + 1);
            let title = ADULT_UNITS[k % ADULT_UNITS.len()];
            b.unit(&unit, &format!("{name}, {title}"), Some(id));
            b.staff(&unit, Some(id), staff);
        }
        b.staff(id, Some("sof"), 2);
    }
    b.unit(
        "bcv-ny",
        "Borgercenter Voksne, Socialpsykiatri",
        Some("bcv"),
    );
    b.org.enheder.last_mut().expect("pushed").gyldig_fra = next_month.to_string();
    for (id, name) in ADMINISTRATIONS.iter().skip(1) {
        for c in 1..=8 {
            let centre = format!("{id}-c{c}");
            b.unit(&centre, &format!("{name}, center {c}"), Some(id));
            for d in 1..=7 {
                let dept = format!("{centre}-a{d}");
                b.unit(
                    &dept,
                    &format!("{name}, center {c}, afdeling {d}"),
                    Some(&centre),
                );
                for t in 1..=8 {
                    let team = format!("{dept}-t{t}");
                    b.unit(
                        &team,
                        &format!("{name}, center {c}, afdeling {d}, team {t}"),
                        Some(&dept),
                    );
                    b.staff(&team, Some(&dept), staff);
                }
                b.staff(&dept, Some(&centre), 1);
            }
            b.staff(&centre, Some(id), 1);
        }
    }
    for (id, _) in ADMINISTRATIONS {
        b.staff(id, Some("kk"), 1);
    }
    b.staff("kk", None, 1);
    b.person("leder1", "Leder, handicap", "bch");
    b.person("aktoer1", "Aktør 1 (sagsbehandler, handicap)", "bch");
    // Aktør 1 is Leder 1's substitute (stedfortræder).
    b.org
        .medarbejdere
        .last_mut()
        .expect("pushed")
        .stedfortraeder_for
        .push("leder1".into());
    b.person("aktoer2", "Aktør 2 (sagsbehandler, udsatte voksne)", "bcv");
    // Leder 1 leads Borgercenter Handicap; its deputy and Aktør 1 substitute for them.
    if let Some(u) = b.org.enheder.iter_mut().find(|u| u.id == "bch") {
        let before = u.leder.replace("leder1".into());
        for m in b.org.medarbejdere.iter_mut() {
            for s in m.stedfortraeder_for.iter_mut() {
                if Some(&*s) == before.as_ref() {
                    *s = "leder1".into();
                }
            }
        }
    }
    b.person("redaktoer", "Katalogredaktør", "sof");
    b.org
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copenhagen_is_about_a_hundred_thousand_rows_with_its_centres() {
        let org = copenhagen(18, "2026-12-01");
        assert!((90_000..=120_000).contains(&org.rows()), "{}", org.rows());
        let under = |p: &str| {
            org.enheder
                .iter()
                .filter(|u| u.overordnet.as_deref() == Some(p))
                .count()
        };
        assert_eq!(under("sof"), 4);
        assert_eq!(
            under("bch") + under("bcv"),
            27,
            "26 and the unit of next month"
        );
        assert!(
            org.enheder
                .iter()
                .all(|u| u.leder.is_some() || u.id == "bcv-ny")
        );
        let ids: std::collections::HashSet<&str> =
            org.enheder.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids.len(), org.enheder.len(), "unique");
        // Parents come first.
        let mut seen = std::collections::HashSet::new();
        for u in &org.enheder {
            assert!(
                u.overordnet.as_deref().is_none_or(|p| seen.contains(p)),
                "{}",
                u.id
            );
            seen.insert(u.id.as_str());
        }
        assert_eq!(
            copenhagen(2, "2026-12-01").medarbejdere.len(),
            copenhagen(2, "2026-12-01").medarbejdere.len()
        );
    }
}
