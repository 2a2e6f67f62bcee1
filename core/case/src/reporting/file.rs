//! A report's file as Knudepunkt writes it: one header line with the variables' names
//! in the layout's order, then one line per record, separated by the layout's separator
//! (a value holding the separator, a quote or a line break is quoted, quotes doubled);
//! and the diff between two periods' files by the layout's key, for the preview.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::layout::Layout;
use super::validate::Record;

fn field(value: &str, separator: char) -> String {
    if value.contains(separator) || value.contains('"') || value.contains('\n') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The header line.
pub fn header(layout: &Layout) -> String {
    let sep = layout.separator.to_string();
    layout
        .variables
        .iter()
        .map(|v| field(&v.name, layout.separator))
        .collect::<Vec<_>>()
        .join(&sep)
}

/// A record's line.
pub fn line(layout: &Layout, record: &Record) -> String {
    let sep = layout.separator.to_string();
    layout
        .variables
        .iter()
        .map(|v| {
            field(
                record.get(&v.name).map(|s| s.trim()).unwrap_or(""),
                layout.separator,
            )
        })
        .collect::<Vec<_>>()
        .join(&sep)
}

/// Writes the header and every record, as they come.
pub fn write<'r, W: Write>(
    layout: &Layout,
    records: impl IntoIterator<Item = &'r Record>,
    out: &mut W,
) -> std::io::Result<u64> {
    writeln!(out, "{}", header(layout))?;
    let mut n = 0;
    for r in records {
        writeln!(out, "{}", line(layout, r))?;
        n += 1;
    }
    Ok(n)
}

/// One line split into its fields.
fn split(line: &str, separator: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if current.is_empty() => quoted = true,
            (c, false) if c == separator => out.push(std::mem::take(&mut current)),
            (c, _) => current.push(c),
        }
    }
    out.push(current);
    out
}

/// Reads a file back into records; the error names the line.
pub fn read(layout: &Layout, text: &str) -> Result<Vec<Record>, String> {
    read_with(layout.separator, text)
}

/// Reads a file written with `separator` back into records, by its header.
pub fn read_with(separator: char, text: &str) -> Result<Vec<Record>, String> {
    let mut lines = text.lines();
    let head = split(lines.next().ok_or("the file is empty")?, separator);
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let values = split(l, separator);
            if values.len() != head.len() {
                return Err(format!(
                    "line {}: {} fields, the header has {}",
                    i + 2,
                    values.len(),
                    head.len()
                ));
            }
            Ok(head
                .iter()
                .cloned()
                .zip(values)
                .filter(|(_, v)| !v.is_empty())
                .collect())
        })
        .collect()
}

/// What changed between two periods' files, by the layout's key.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Diff {
    /// Keys (their values joined by `|`) only in the new file.
    pub added: Vec<String>,
    /// Keys only in the old file.
    pub removed: Vec<String>,
    /// Keys in both whose other variables differ, with those variables.
    pub changed: Vec<(String, Vec<String>)>,
    pub unchanged: usize,
}

/// The diff from `before` to `after` (both files in the layout).
pub fn diff(layout: &Layout, before: &str, after: &str) -> Result<Diff, String> {
    let keyed = |text: &str| -> Result<BTreeMap<String, Record>, String> {
        Ok(read(layout, text)?
            .into_iter()
            .map(|r| {
                let key = layout
                    .key
                    .iter()
                    .map(|k| r.get(k).cloned().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("|");
                (key, r)
            })
            .collect())
    };
    let (old, new) = (keyed(before)?, keyed(after)?);
    let mut d = Diff::default();
    for (key, r) in &new {
        match old.get(key) {
            None => d.added.push(key.clone()),
            Some(o) if o == r => d.unchanged += 1,
            Some(o) => {
                let vars = layout
                    .variables
                    .iter()
                    .filter(|v| o.get(&v.name) != r.get(&v.name))
                    .map(|v| v.name.clone())
                    .collect();
                d.changed.push((key.clone(), vars));
            }
        }
    }
    d.removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporting::layout::{Variable, VariableType};

    fn layout() -> Layout {
        let var = |name: &str| Variable {
            name: name.into(),
            description: String::new(),
            kind: VariableType::Tekst,
            required: false,
            max_length: None,
            codes: BTreeMap::new(),
        };
        Layout {
            report: "t".into(),
            name: "T".into(),
            receiver: "DST".into(),
            separator: ';',
            key: vec!["CPR".into()],
            constants: BTreeMap::new(),
            variables: vec![var("CPR"), var("NAVN"), var("OMFANG")],
            rules: vec![],
            send_records: false,
        }
    }

    fn rec(cpr: &str, navn: &str, omfang: &str) -> Record {
        [("CPR", cpr), ("NAVN", navn), ("OMFANG", omfang)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn files_read_back_and_periods_compare_by_key() {
        let l = layout();
        let before = vec![
            rec("1", "Ib; \"Ole\"", "5"),
            rec("2", "Anna", "3"),
            rec("3", "Bo", ""),
        ];
        let after = vec![
            rec("1", "Ib; \"Ole\"", "5"),
            rec("2", "Anna", "4"),
            rec("4", "Eva", "1"),
        ];
        let mut a = Vec::new();
        write(&l, &before, &mut a).unwrap();
        let mut b = Vec::new();
        assert_eq!(write(&l, &after, &mut b).unwrap(), 3);
        let (a, b) = (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
        assert!(
            a.starts_with("CPR;NAVN;OMFANG\n1;\"Ib; \"\"Ole\"\"\";5\n"),
            "{a}"
        );
        assert_eq!(read(&l, &a).unwrap(), before);
        let d = diff(&l, &a, &b).unwrap();
        assert_eq!(d.added, ["4"]);
        assert_eq!(d.removed, ["3"]);
        assert_eq!(d.changed, [("2".to_string(), vec!["OMFANG".to_string()])]);
        assert_eq!(d.unchanged, 1);
        assert!(
            read(&l, "CPR;NAVN\n1;2;3\n")
                .unwrap_err()
                .contains("line 2")
        );
    }
}
