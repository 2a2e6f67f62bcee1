//! Checking a report's records against its layout, one record at a time (so an extract
//! of millions streams through): required variables, types, lengths, code lists, the
//! layout's rules, and duplicates by the key. Each finding names the record (its row
//! and the citizen's CPR, masked), the variable and the rule, in clear text.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::layout::{Layout, RuleKind, VariableType};

/// One record: the variables' values as the file will hold them.
pub type Record = BTreeMap<String, String>;

/// A problem with a record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    /// The record's row in the extract, from 1.
    pub row: u64,
    /// The citizen, masked (`010190-****`), when the record has a CPR.
    pub citizen: Option<String>,
    pub variable: String,
    /// `required`, `type`, `length`, `code`, `duplicate`, or a layout rule's id.
    pub rule: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {}{}: {} ({}): {}",
            self.row,
            self.citizen
                .as_deref()
                .map(|c| format!(", citizen {c}"))
                .unwrap_or_default(),
            self.variable,
            self.rule,
            self.message
        )
    }
}

/// The period a report is for: its first and last day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    /// A month (`YYYY-MM`) or a year (`YYYY`).
    pub fn parse(text: &str) -> Option<Period> {
        if text.len() == 4 {
            let year: i32 = text.parse().ok()?;
            return Some(Period {
                first: NaiveDate::from_ymd_opt(year, 1, 1)?,
                last: NaiveDate::from_ymd_opt(year, 12, 31)?,
            });
        }
        Self::month(text)
    }

    /// A month, `YYYY-MM`.
    pub fn month(text: &str) -> Option<Period> {
        let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
        let next = first.checked_add_months(chrono::Months::new(1))?;
        Some(Period {
            first,
            last: next.pred_opt()?,
        })
    }
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// A CPR number masked as the logs show it.
fn masked(cpr: &str) -> String {
    if cpr.len() == 10 && cpr.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-****", &cpr[..6])
    } else {
        "(not a CPR number)".into()
    }
}

/// Checks records against a layout for a period.
pub struct Validator<'a> {
    layout: &'a Layout,
    period: Period,
    /// The variable holding the citizen's CPR, if the layout has one.
    cpr: Option<&'a str>,
    /// The keys seen, as 128 bits of their SHA-256 (millions of records stay small).
    seen: HashSet<u128>,
    row: u64,
}

impl<'a> Validator<'a> {
    pub fn new(layout: &'a Layout, period: Period) -> Self {
        Validator {
            layout,
            period,
            cpr: layout
                .variables
                .iter()
                .find(|v| v.kind == VariableType::Cpr)
                .map(|v| v.name.as_str()),
            seen: HashSet::new(),
            row: 0,
        }
    }

    /// The findings for the next record (none when it is in order).
    pub fn check(&mut self, record: &Record) -> Vec<Finding> {
        self.row += 1;
        let citizen = self.cpr.and_then(|c| record.get(c)).map(|c| masked(c));
        let mut out = Vec::new();
        let mut find = |variable: &str, rule: &str, message: String| {
            out.push(Finding {
                row: self.row,
                citizen: citizen.clone(),
                variable: variable.to_string(),
                rule: rule.to_string(),
                message,
            })
        };
        for name in record.keys() {
            if self.layout.variable(name).is_none() {
                find(name, "layout", "the layout has no such variable".into());
            }
        }
        let value = |name: &str| record.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        for v in &self.layout.variables {
            let Some(text) = value(&v.name) else {
                if v.required {
                    find(&v.name, "required", "is required and missing".into());
                }
                continue;
            };
            if let Some(max) = v.max_length
                && text.chars().count() > max
            {
                find(
                    &v.name,
                    "length",
                    format!("is longer than {max} characters"),
                );
            }
            let ok = match v.kind {
                VariableType::Tekst => true,
                VariableType::Heltal => text.parse::<i64>().is_ok(),
                VariableType::Dato => date(text).is_some(),
                VariableType::Cpr => text.len() == 10 && text.bytes().all(|b| b.is_ascii_digit()),
                VariableType::Kode => {
                    if !v.codes.contains_key(text) {
                        find(
                            &v.name,
                            "code",
                            format!(
                                "{text:?} is not one of its codes ({})",
                                v.codes.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                    true
                }
            };
            if !ok {
                let want = match v.kind {
                    VariableType::Heltal => "a whole number",
                    VariableType::Dato => "a date, YYYY-MM-DD",
                    VariableType::Cpr => "a CPR number of ten digits",
                    _ => "",
                };
                find(&v.name, "type", format!("{text:?} is not {want}"));
            }
        }
        for rule in &self.layout.rules {
            match &rule.kind {
                RuleKind::DateOrder { first, then } => {
                    if let (Some(a), Some(b)) =
                        (value(first).and_then(date), value(then).and_then(date))
                        && b < a
                    {
                        find(then, &rule.id, rule.message.clone());
                    }
                }
                RuleKind::RequiredWhen {
                    field,
                    when_field,
                    equals,
                } => {
                    if value(when_field) == Some(equals.as_str()) && value(field).is_none() {
                        find(field, &rule.id, rule.message.clone());
                    }
                }
                RuleKind::AbsentWhen {
                    field,
                    when_field,
                    equals,
                } => {
                    if value(when_field) == Some(equals.as_str()) && value(field).is_some() {
                        find(field, &rule.id, rule.message.clone());
                    }
                }
                RuleKind::RequiredWith { field, with } => {
                    if value(with).is_some() && value(field).is_none() {
                        find(field, &rule.id, rule.message.clone());
                    }
                }
                RuleKind::InPeriod {
                    field,
                    until_end_only,
                } => {
                    if let Some(d) = value(field).and_then(date)
                        && (d > self.period.last || (!until_end_only && d < self.period.first))
                    {
                        find(field, &rule.id, rule.message.clone());
                    }
                }
            }
        }
        let key = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            for k in &self.layout.key {
                h.update(value(k).unwrap_or("").as_bytes());
                h.update([0x1f]);
            }
            let d = h.finalize();
            u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
        };
        if !self.layout.key.is_empty() && !self.seen.insert(key) {
            find(
                &self.layout.key.join("+"),
                "duplicate",
                "an earlier record has the same key".into(),
            );
        }
        out
    }

    /// Records checked so far.
    pub fn rows(&self) -> u64 {
        self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let d = std::env::temp_dir().join(format!("kp-validate-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("layout.yaml"),
            r#"report: test
name: Test
receiver: DST
key: [CPR, STARTDATO]
variables:
  - name: CPR
    type: cpr
    required: true
  - name: PARAGRAF
    type: kode
    required: true
    codes: { "85": "SEL § 85", "107": "SEL § 107" }
  - name: STARTDATO
    type: dato
    required: true
  - name: SLUTDATO
    type: dato
  - name: ENHED
    type: kode
    codes: { TIMER: timer, DOEGN: døgn }
  - name: OMFANG
    type: heltal
  - name: NOTE
    type: tekst
    max_length: 5
rules:
  - id: slut-efter-start
    kind: date_order
    first: STARTDATO
    then: SLUTDATO
    message: SLUTDATO ligger før STARTDATO
  - id: omfang-ved-timer
    kind: required_when
    field: OMFANG
    when_field: ENHED
    equals: TIMER
    message: OMFANG skal angives, når ENHED er TIMER
  - id: start-i-perioden
    kind: in_period
    field: STARTDATO
    until_end_only: true
    message: STARTDATO ligger efter perioden
  - id: intet-omfang-ved-doegn
    kind: absent_when
    field: OMFANG
    when_field: ENHED
    equals: DOEGN
    message: OMFANG angives ikke, når ENHED er DOEGN
"#,
        )
        .unwrap();
        Layout::load(&d).unwrap()
    }

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_broken_record_is_caught_by_name() {
        let l = layout();
        let mut v = Validator::new(&l, Period::month("2026-10").unwrap());
        let good = record(&[
            ("CPR", "0101901234"),
            ("PARAGRAF", "85"),
            ("STARTDATO", "2026-10-01"),
            ("ENHED", "TIMER"),
            ("OMFANG", "5"),
        ]);
        assert!(v.check(&good).is_empty());
        let rules = |f: Vec<Finding>| -> Vec<(String, String)> {
            f.into_iter().map(|f| (f.variable, f.rule)).collect()
        };
        // The same key again.
        assert_eq!(
            rules(v.check(&good)),
            [("CPR+STARTDATO".into(), "duplicate".into())]
        );
        let bad = record(&[
            ("CPR", "0202901234"),
            ("PARAGRAF", "99"),
            ("STARTDATO", "2026-11-02"),
            ("SLUTDATO", "2026-10-05"),
            ("ENHED", "TIMER"),
            ("NOTE", "for lang tekst"),
            ("FARVE", "blå"),
        ]);
        let found = v.check(&bad);
        assert_eq!(
            rules(found.clone()),
            [
                ("FARVE".into(), "layout".into()),
                ("PARAGRAF".into(), "code".into()),
                ("NOTE".into(), "length".into()),
                ("SLUTDATO".into(), "slut-efter-start".into()),
                ("OMFANG".into(), "omfang-ved-timer".into()),
                ("STARTDATO".into(), "start-i-perioden".into()),
            ]
        );
        assert_eq!(found[0].citizen.as_deref(), Some("020290-****"));
        assert_eq!(
            found[1].to_string(),
            "row 3, citizen 020290-****: PARAGRAF (code): \"99\" is not one of its codes (107, 85)"
        );
        let missing = v.check(&record(&[("CPR", "12"), ("STARTDATO", "1. oktober")]));
        assert_eq!(
            rules(missing),
            [
                ("CPR".into(), "type".into()),
                ("PARAGRAF".into(), "required".into()),
                ("STARTDATO".into(), "type".into()),
            ]
        );
        let doegn = v.check(&record(&[
            ("CPR", "0303901234"),
            ("PARAGRAF", "107"),
            ("STARTDATO", "2026-10-03"),
            ("ENHED", "DOEGN"),
            ("OMFANG", "7"),
        ]));
        assert_eq!(
            rules(doegn),
            [("OMFANG".into(), "intet-omfang-ved-doegn".into())]
        );
        assert_eq!(v.rows(), 5);
    }
}
