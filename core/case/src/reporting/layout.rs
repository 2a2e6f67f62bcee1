//! A statutory report's layout, as the operator keeps it in
//! `mappings/dst/<report>/layout.yaml`: the variables under the receiver's own names,
//! each with its type, whether it is required, its length and its code list, the key a
//! record is known by (for duplicates and for the diff between periods), and the rules
//! that tie variables together. Problems are reported with file and line.
//!
//! ```yaml
//! report: serviceindikatorer-voksne
//! name: De Kommunale Serviceindikatorer – Voksne
//! receiver: Danmarks Statistik
//! separator: ";"
//! key: [CPR, PARAGRAF, STARTDATO]
//! variables:
//!   - name: CPR
//!     description: The citizen's CPR number.
//!     type: cpr
//!     required: true
//!   - name: PARAGRAF
//!     type: kode
//!     codes: { "85": "SEL § 85, socialpædagogisk støtte" }
//! rules:
//!   - id: slut-efter-start
//!     kind: date_order
//!     first: STARTDATO
//!     then: SLUTDATO
//!     message: SLUTDATO ligger før STARTDATO
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use knudepunkt_engine::route::Diagnostic;

/// A variable's type, as the file writes it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    /// Free text.
    Tekst,
    /// A whole number.
    Heltal,
    /// A date, YYYY-MM-DD.
    Dato,
    /// One of the variable's codes.
    Kode,
    /// A CPR number, ten digits.
    Cpr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariableConfig {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(rename = "type")]
    kind: VariableType,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    max_length: Option<usize>,
    /// Code → meaning.
    #[serde(default)]
    codes: BTreeMap<String, String>,
}

/// A rule between variables.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// `then`, when given, is not before `first`.
    DateOrder { first: String, then: String },
    /// `field` is required when `when_field` has the value `equals`.
    RequiredWhen {
        field: String,
        when_field: String,
        equals: String,
    },
    /// `field` is required when `with` has a value.
    RequiredWith { field: String, with: String },
    /// `field` is left out when `when_field` has the value `equals` (an anonymous
    /// record has no CPR).
    AbsentWhen {
        field: String,
        when_field: String,
        equals: String,
    },
    /// The date `field` lies within the report's period (or before its end, with
    /// `until_end_only`).
    InPeriod {
        field: String,
        #[serde(default)]
        until_end_only: bool,
    },
}

/// A rule's own fields are its kind's; unknown ones are refused there.
#[derive(Debug, Deserialize)]
struct RuleConfig {
    id: Spanned<String>,
    #[serde(flatten)]
    kind: RuleKind,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutFile {
    report: String,
    name: String,
    receiver: String,
    #[serde(default = "semicolon")]
    separator: String,
    key: Spanned<Vec<String>>,
    /// Values every record gets (the municipality's number).
    #[serde(default)]
    constants: BTreeMap<String, String>,
    variables: Vec<VariableConfig>,
    #[serde(default)]
    rules: Vec<RuleConfig>,
    #[serde(default)]
    send_records: bool,
}

fn semicolon() -> String {
    ";".into()
}

/// One variable, checked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub description: String,
    pub kind: VariableType,
    pub required: bool,
    pub max_length: Option<usize>,
    pub codes: BTreeMap<String, String>,
}

/// One rule, checked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub kind: RuleKind,
    pub message: String,
}

/// A report's layout, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    pub report: String,
    pub name: String,
    pub receiver: String,
    pub separator: char,
    pub key: Vec<String>,
    /// Values every record gets.
    pub constants: BTreeMap<String, String>,
    pub variables: Vec<Variable>,
    pub rules: Vec<Rule>,
    /// The approval hands the upload route the records as well as the file, for a
    /// receiver that takes one form per record (SEI2's SchemaReport).
    pub send_records: bool,
}

impl Layout {
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Reads `layout.yaml` in `dir` (`mappings/dst/<report>`); every problem with its
    /// line.
    pub fn load(dir: &Path) -> Result<Layout, Vec<Diagnostic>> {
        let file = dir.join("layout.yaml");
        let at = |line: u64, message: String| Diagnostic {
            file: file.display().to_string(),
            line,
            column: 0,
            message,
        };
        let text =
            std::fs::read_to_string(&file).map_err(|e| vec![at(0, format!("cannot read: {e}"))])?;
        let parsed: LayoutFile = serde_saphyr::from_str(&text)
            .map_err(|e| vec![knudepunkt_engine::route::yaml_diagnostic(&file, &e)])?;
        let mut diags = Vec::new();
        let separator = match parsed.separator.chars().collect::<Vec<_>>()[..] {
            [c] => c,
            _ => {
                diags.push(at(
                    1,
                    format!("separator {:?} is not one character", parsed.separator),
                ));
                ';'
            }
        };
        let mut variables: Vec<Variable> = Vec::new();
        for v in parsed.variables {
            let line = v.name.referenced.line();
            if variables.iter().any(|o| o.name == v.name.value) {
                diags.push(at(
                    line,
                    format!("variable {} is declared twice", v.name.value),
                ));
                continue;
            }
            if v.kind == VariableType::Kode && v.codes.is_empty() {
                diags.push(at(
                    line,
                    format!("variable {} is a kode without codes", v.name.value),
                ));
            }
            variables.push(Variable {
                name: v.name.value,
                description: v.description,
                kind: v.kind,
                required: v.required,
                max_length: v.max_length,
                codes: v.codes,
            });
        }
        let known = |name: &str| variables.iter().any(|v| v.name == name);
        for k in &parsed.key.value {
            if !known(k) {
                diags.push(at(
                    parsed.key.referenced.line(),
                    format!("key names {k}, which is no variable"),
                ));
            }
        }
        for k in parsed.constants.keys() {
            if !known(k) {
                diags.push(at(1, format!("constant {k} is no variable")));
            }
        }
        let mut rules = Vec::new();
        for r in parsed.rules {
            let line = r.id.referenced.line();
            let names: Vec<&str> = match &r.kind {
                RuleKind::DateOrder { first, then } => vec![first, then],
                RuleKind::RequiredWhen {
                    field, when_field, ..
                }
                | RuleKind::AbsentWhen {
                    field, when_field, ..
                } => vec![field, when_field],
                RuleKind::RequiredWith { field, with } => vec![field, with],
                RuleKind::InPeriod { field, .. } => vec![field],
            };
            let dates = matches!(
                r.kind,
                RuleKind::DateOrder { .. } | RuleKind::InPeriod { .. }
            );
            for n in names {
                if !known(n) {
                    diags.push(at(
                        line,
                        format!("rule {} names {n}, which is no variable", r.id.value),
                    ));
                } else if dates
                    && variables
                        .iter()
                        .any(|v| v.name == n && v.kind != VariableType::Dato)
                {
                    diags.push(at(
                        line,
                        format!(
                            "rule {} compares {n} as a date, but it is no dato",
                            r.id.value
                        ),
                    ));
                }
            }
            rules.push(Rule {
                id: r.id.value,
                kind: r.kind,
                message: r.message,
            });
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(Layout {
            report: parsed.report,
            name: parsed.name,
            receiver: parsed.receiver,
            separator,
            key: parsed.key.value,
            constants: parsed.constants,
            variables,
            rules,
            send_records: parsed.send_records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(text: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("kp-layout-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("layout.yaml"), text).unwrap();
        d
    }

    #[test]
    fn a_broken_layout_is_named_with_its_lines() {
        let d = dir(
            "report: r\nname: R\nreceiver: DST\nkey: [CPR, NOPE]\nvariables:\n  - name: CPR\n    type: cpr\n  - name: KODE\n    type: kode\n  - name: CPR\n    type: tekst\nrules:\n  - id: r1\n    kind: date_order\n    first: CPR\n    then: MISSING\n    message: x\n",
        );
        let diags = Layout::load(&d).unwrap_err();
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("layout.yaml:8") && t.contains("KODE is a kode without codes")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("layout.yaml:10") && t.contains("declared twice")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("key names NOPE")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("layout.yaml:13") && t.contains("MISSING")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("compares CPR as a date")),
            "{text:?}"
        );
        let d = dir("report: r\nname: R\nreceiver: DST\nkey: []\nvariables: []\nnonsense: 1\n");
        assert!(
            Layout::load(&d).unwrap_err()[0]
                .message
                .contains("nonsense")
        );
    }
}
