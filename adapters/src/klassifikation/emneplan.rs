//! KL's published KLE emneplan (`KLE-Emneplan_Version2-0`, the official XML): its main
//! groups (hovedgrupper), groups and subjects (emner), each with its number, title,
//! creation date, and, for one no longer in use, the date it expired or moved and the
//! number that replaced it. Read as it streams.

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

/// A level of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Hovedgruppe,
    Gruppe,
    Emne,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Hovedgruppe => "hovedgruppe",
            Level::Gruppe => "gruppe",
            Level::Emne => "emne",
        }
    }

    /// The level a number (`27`, `27.36`, `27.36.12`) is at.
    pub fn of(number: &str) -> Option<Level> {
        match number.split('.').count() {
            1 => Some(Level::Hovedgruppe),
            2 => Some(Level::Gruppe),
            3 => Some(Level::Emne),
            _ => None,
        }
    }
}

/// One class of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KleClass {
    pub number: String,
    pub title: String,
    pub level: Level,
    /// The group or main group it is under.
    pub parent: Option<String>,
    /// YYYY-MM-DD.
    pub created: Option<String>,
    /// The day it expired or moved (YYYY-MM-DD).
    pub expired: Option<String>,
    /// The number that replaced it, when it moved.
    pub replaced_by: Option<String>,
}

/// The plan's classes in document order (each main group before its groups, each group
/// before its subjects); the error names the line.
pub fn read(xml: &str) -> Result<Vec<KleClass>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out: Vec<KleClass> = Vec::new();
    // The open class at each level, by its index in `out`.
    let mut open: Vec<usize> = Vec::new();
    let mut text = String::new();
    let line = |pos: u64| xml[..(pos as usize).min(xml.len())].lines().count();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("line {}: {e}", line(reader.buffer_position())))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let level = match name.as_str() {
                    "Hovedgruppe" => Some(Level::Hovedgruppe),
                    "Gruppe" if !path.iter().any(|p| p == "AfloestAf") => Some(Level::Gruppe),
                    "Emne" => Some(Level::Emne),
                    _ => None,
                };
                if let Some(level) = level {
                    let parent = open.last().map(|&i| out[i].number.clone());
                    out.push(KleClass {
                        number: String::new(),
                        title: String::new(),
                        level,
                        parent,
                        created: None,
                        expired: None,
                        replaced_by: None,
                    });
                    open.push(out.len() - 1);
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => {
                let decoded = t
                    .decode()
                    .map_err(|e| format!("line {}: {e}", line(reader.buffer_position())))?;
                text.push_str(&decoded);
            }
            Event::GeneralRef(r) => {
                let at = line(reader.buffer_position());
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| format!("line {at}: {e}"))?
                {
                    text.push(c);
                } else {
                    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                    let c = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("line {at}: unknown entity &{name};"))?;
                    text.push_str(c);
                }
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(format!(
                        "line {}: an end without a start",
                        line(reader.buffer_position())
                    ));
                };
                let value = text.trim().to_string();
                let in_replaced = path.iter().any(|p| p == "AfloestAf");
                if let Some(&i) = open.last() {
                    let c = &mut out[i];
                    match name.as_str() {
                        "HovedgruppeNr" | "GruppeNr" | "EmneNr" if in_replaced => {
                            c.replaced_by = Some(value);
                        }
                        "HovedgruppeNr" | "GruppeNr" | "EmneNr" => c.number = value,
                        "HovedgruppeTitel" | "GruppeTitel" | "EmneTitel" => c.title = value,
                        "OprettetDato" => c.created = Some(value),
                        "UdgaaetDato" | "FlyttetDato" => c.expired = Some(value),
                        "Hovedgruppe" | "Emne" => {
                            open.pop();
                        }
                        "Gruppe" if !in_replaced => {
                            open.pop();
                        }
                        _ => {}
                    }
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(bad) = out
        .iter()
        .find(|c| c.number.is_empty() || c.title.is_empty())
    {
        return Err(format!(
            "a {} without its number or title (after {:?})",
            bad.level.as_str(),
            bad.parent
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_emneplan_reads_whole_with_its_letters() {
        let path = crate::medcom::formats().join("kle/KLE-Emneplan_Version2-0_2015-08-01.xml");
        let xml = std::fs::read_to_string(path).unwrap();
        let plan = read(&xml).unwrap();
        let count = |l: Level| plan.iter().filter(|c| c.level == l).count();
        assert_eq!(count(Level::Hovedgruppe), 41);
        assert_eq!(count(Level::Gruppe), 691);
        assert_eq!(count(Level::Emne), 3457);
        let s = plan.iter().find(|c| c.number == "27.36.12").unwrap();
        assert_eq!(
            s.title,
            "Socialpædagogisk bistand (hjælp, omsorg eller støtte samt genoptræning)"
        );
        assert_eq!(s.parent.as_deref(), Some("27.36"));
        let moved = plan.iter().find(|c| c.number == "00.10").unwrap();
        assert_eq!(moved.expired.as_deref(), Some("2014-11-01"));
        assert_eq!(moved.replaced_by.as_deref(), Some("15.40"));
        assert_eq!(
            plan.iter()
                .find(|c| c.number == "00.10.00")
                .unwrap()
                .parent
                .as_deref(),
            Some("00.10")
        );
        assert!(plan.iter().all(|c| Level::of(&c.number) == Some(c.level)));
    }

    #[test]
    fn a_broken_plan_names_its_line() {
        let e = read("<KLE-Emneplan>\n<Hovedgruppe><HovedgruppeNr>00</HovedgruppeNr>\n</Gruppe>")
            .unwrap_err();
        assert!(e.starts_with("line "), "{e}");
    }
}
