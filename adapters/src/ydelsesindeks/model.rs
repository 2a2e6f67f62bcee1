//! The Ydelsesindeks's content as the simulator keeps it: benefits by UUID, each with
//! its grants (BevillingIndeks), read from importer and opdater input.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::sagdokindeks::CPR_URN;
use crate::serviceplatformen::security::dom::Element;
use crate::sts_service::service::Refusal;

/// A grant behind a benefit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bevilling {
    pub uuid: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub amount: Option<String>,
    pub quantity: Option<String>,
    pub unit: Option<String>,
    pub status: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Benefit {
    pub uuid: String,
    pub registered: Option<String>,
    pub key: Option<String>,
    pub name: Option<String>,
    pub code: Option<String>,
    pub legal_basis: Option<String>,
    pub case_uuid: Option<String>,
    pub cpr: Option<String>,
    pub kle: Option<String>,
    pub org_unit: Option<String>,
    pub provider: Option<String>,
    pub grants: BTreeMap<String, Bevilling>,
}

/// The index's content.
#[derive(Debug, Default)]
pub struct Benefits {
    pub by_uuid: HashMap<String, Benefit>,
}

/// The Ydelsesindeks's content, shared with the Sags- og dokumentindeks beside it.
pub type SharedBenefits = Arc<RwLock<Benefits>>;

fn read_benefit(y: &Element) -> Result<Benefit, Refusal> {
    let uuid = y
        .text_at(&["UUIDIdentifikator"])
        .ok_or_else(|| Refusal("YdelseIndeks har ingen UUIDIdentifikator".into()))?;
    let p = |path: &[&str]| y.text_at(path);
    Ok(Benefit {
        registered: p(&["Tidspunkt"]),
        key: p(&["Egenskaber", "BrugervendtNoegle"]),
        name: p(&["Egenskaber", "Ydelsesnavn"]),
        code: p(&["Egenskaber", "Ydelseskode"]),
        legal_basis: p(&["Egenskaber", "Hjemmel"]),
        case_uuid: p(&["Relationer", "Sag"]),
        cpr: p(&["Relationer", "Part"]).and_then(|u| u.strip_prefix(CPR_URN).map(str::to_string)),
        kle: p(&["Relationer", "Ydelsesklasse"]),
        org_unit: p(&["Relationer", "AnsvarligEnhed"]),
        provider: p(&["Relationer", "Udfoerer"]),
        grants: y
            .elements_named("BevillingIndeks")
            .filter_map(|b| {
                let uuid = b.text_at(&["UUIDIdentifikator"])?;
                Some((
                    uuid.clone(),
                    Bevilling {
                        uuid,
                        from: b.text_at(&["Bevillingsperiode", "Fra"]),
                        to: b.text_at(&["Bevillingsperiode", "Til"]),
                        amount: b.text_at(&["Beloeb"]),
                        quantity: b.text_at(&["Maengde"]),
                        unit: b.text_at(&["Enhed"]),
                        status: b.text_at(&["Status"]),
                    },
                ))
            })
            .collect(),
        uuid,
    })
}

impl Benefits {
    /// Applies an importer (objects whole) or opdater (objects it holds, their grants
    /// replaced by UUID) all or nothing.
    pub fn apply(&mut self, input: &Element) -> Result<(), Refusal> {
        let benefits: Vec<Benefit> = input
            .elements_named("YdelseIndeks")
            .map(read_benefit)
            .collect::<Result<_, _>>()?;
        match input.local.as_str() {
            "ImporterYdelseIndeksInput" => {
                for b in benefits {
                    self.by_uuid.insert(b.uuid.clone(), b);
                }
            }
            "OpdaterYdelseIndeksInput" => {
                if let Some(unknown) = benefits
                    .iter()
                    .find(|b| !self.by_uuid.contains_key(&b.uuid))
                {
                    return Err(Refusal(format!(
                        "Ydelse {} findes ikke i indekset",
                        unknown.uuid
                    )));
                }
                for b in benefits {
                    let held = self.by_uuid.get_mut(&b.uuid).expect("checked above");
                    let grants = std::mem::take(&mut held.grants);
                    *held = Benefit {
                        grants: grants.into_iter().chain(b.grants.clone()).collect(),
                        ..b
                    };
                }
            }
            other => return Err(Refusal(format!("{other} er ikke en operation her"))),
        }
        Ok(())
    }

    /// Removes the benefits granted on `case`; how many.
    pub fn remove_of_case(&mut self, case: &str) -> usize {
        let before = self.by_uuid.len();
        self.by_uuid
            .retain(|_, b| b.case_uuid.as_deref() != Some(case));
        before - self.by_uuid.len()
    }
}
