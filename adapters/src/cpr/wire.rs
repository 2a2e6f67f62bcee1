//! PersonLookup on the wire: the request, the response read into a [`Person`] and
//! written from one (the sandbox's side), and the ServiceplatformFault's errors.

use super::person::{Abroad, Address, Custody, Guardian, Name, PastAddress, Person, Relative};
use super::{FAULT_NS, NS, PNR_NS};
use crate::serviceplatformen::security::dom::{Document, Element};

/// The Body of a lookup of `cpr` (ten digits).
pub fn request(cpr: &str) -> String {
    format!(
        r#"<ns:PersonLookupRequest xmlns:ns="{NS}"><pnr:PNR xmlns:pnr="{PNR_NS}">{}</pnr:PNR></ns:PersonLookupRequest>"#,
        quick_xml::escape::escape(cpr)
    )
}

/// The PNR a request asks for.
pub fn requested(doc: &Document) -> Option<String> {
    doc.find(PNR_NS, "PNR")
        .first()
        .and_then(|p| doc.at(p))
        .map(|e| e.text().trim().to_string())
}

/// A ServiceplatformFault's errors: `(ErrorCode, ErrorText)`.
pub fn fault_errors(text: &str) -> Vec<(String, String)> {
    let Ok(doc) = Document::parse(text) else {
        return Vec::new();
    };
    doc.find(FAULT_NS, "Error")
        .iter()
        .filter_map(|p| doc.at(p))
        .map(|e| {
            (
                e.text_at(&["ErrorCode"]).unwrap_or_default(),
                e.text_at(&["ErrorText"]).unwrap_or_default(),
            )
        })
        .collect()
}

/// The date part of a CPR date or date-time (`2019-03-01T00:00:00` is `2019-03-01`).
fn day(e: &Element, path: &[&str]) -> Option<String> {
    e.text_at(path).map(|t| t.chars().take(10).collect())
}

fn number(e: &Element, local: &str) -> Option<u32> {
    e.text_at(&[local]).and_then(|t| t.parse().ok())
}

fn relative(e: Option<&Element>) -> Option<Relative> {
    let e = e?;
    Some(Relative {
        cpr: e.text_at(&["personnummer"]),
        name: e.text_at(&["navn"]),
        birth_date: day(e, &["foedselsdato", "dato"]),
    })
}

/// A PersonLookupResponse (in its SOAP envelope) as a [`Person`]; `cpr` is the number
/// asked for.
pub fn read(text: &str, cpr: &str) -> Result<Person, String> {
    let doc = Document::parse(text).map_err(|e| format!("the answer does not read: {e}"))?;
    let response = doc
        .find(NS, "PersonLookupResponse")
        .first()
        .and_then(|p| doc.at(p))
        .ok_or("the answer holds no PersonLookupResponse")?;
    let mut p = Person {
        cpr: cpr.to_string(),
        ..Default::default()
    };
    if let Some(d) = response.elements_named("persondata").next() {
        if let Some(n) = d.text_at(&["personnummer"]) {
            p.cpr = n;
        }
        p.current_cpr = d
            .text_at(&["gaeldendePersonnummer"])
            .filter(|n| *n != p.cpr);
        p.name = d.elements_named("navn").next().map(|n| Name {
            addressing: n.text_at(&["personadresseringsnavn"]).unwrap_or_default(),
            given: n.text_at(&["fornavn"]),
            middle: n.text_at(&["mellemnavn"]),
            family: n.text_at(&["efternavn"]),
        });
        p.birth_date = day(d, &["foedselsdato", "dato"]);
        p.status = d
            .text_at(&["status", "status"])
            .and_then(|t| t.parse().ok());
        p.address_protected = d
            .text_at(&["adressebeskyttelse", "beskyttet"])
            .map(|t| t == "true");
        p.digital_post = d.text_at(&["tilmeldtDigitalpost"]).map(|t| t == "true");
        p.guardian = d
            .elements_named("umyndiggoerelse")
            .next()
            .map(|u| Guardian {
                cpr: u.text_at(&["relationPersonnummer"]),
                name: u.text_at(&["relationVaergenavn"]),
                since: day(u, &["umyndiggoerelseStartdato", "dato"]),
            });
    }
    if let Some(a) = response.elements_named("adresse").next() {
        p.address = a.elements_named("aktuelAdresse").next().map(|c| Address {
            municipality_code: number(c, "kommunekode"),
            street: c.text_at(&["vejnavn"]),
            house_number: c.text_at(&["husnummer"]),
            floor: c.text_at(&["etage"]),
            door: c.text_at(&["sidedoer"]),
            postcode: c.text_at(&["postnummer"]),
            city: c.text_at(&["postdistrikt"]),
            moved_in: day(c, &["tilflytningsdato", "dato"]),
        });
        p.abroad = a
            .elements_named("udrejseoplysninger")
            .next()
            .map(|u| Abroad {
                country_code: number(u, "udrejselandekode"),
                since: day(u, &["udrejsedato", "dato"]),
                lines: (1..=5)
                    .filter_map(|i| u.text_at(&[&format!("udlandsadresse{i}")]))
                    .collect(),
            });
        p.address_history = a
            .elements_named("adresseHistorik")
            .map(|h| PastAddress {
                municipality_code: number(h, "kommunekode"),
                street: h.text_at(&["vejnavn"]),
                house_number: h.text_at(&["husnummer"]),
                postcode: h.text_at(&["postnummer"]),
                city: h.text_at(&["postdistrikt"]),
                moved_in: day(h, &["tilflytningsdato", "dato"]),
                moved_out: day(h, &["fraflytningsdato", "dato"]),
            })
            .collect();
    }
    if let Some(r) = response.elements_named("relationer").next() {
        p.spouse = relative(r.elements_named("aegtefaelle").next());
        p.children = r
            .elements_named("barn")
            .filter_map(|b| b.text_at(&["personnummer"]))
            .collect();
        p.mother = relative(r.elements_named("mor").next());
        p.father = relative(r.elements_named("far").next());
        p.custody = r
            .elements_named("foraeldremyndighed")
            .filter_map(|f| {
                Some(Custody {
                    kind: number(f, "foraeldremyndighedtype")?,
                    cpr: f.text_at(&["relationPersonnummer"]),
                    since: day(f, &["foraeldremyndighedStartdato", "dato"]),
                })
            })
            .collect();
    }
    Ok(p)
}

/// Writes `children` as `<tns:name>` elements with escaped text, skipping the absent.
fn elements(out: &mut String, children: &[(&str, Option<&str>)]) {
    for (name, value) in children {
        if let Some(v) = value {
            out.push_str(&format!(
                "<tns:{name}>{}</tns:{name}>",
                quick_xml::escape::escape(*v)
            ));
        }
    }
}

fn date_time(d: &str) -> String {
    format!("{d}T00:00:00")
}

fn relative_xml(out: &mut String, name: &str, r: &Option<Relative>) {
    let Some(r) = r else { return };
    out.push_str(&format!("<tns:{name}>"));
    match &r.cpr {
        Some(cpr) => elements(out, &[("personnummer", Some(cpr))]),
        None => {
            if let Some(b) = &r.birth_date {
                out.push_str(&format!(
                    "<tns:foedselsdato><tns:dato>{b}</tns:dato></tns:foedselsdato>"
                ));
            }
            elements(out, &[("navn", r.name.as_deref())]);
        }
    }
    out.push_str(&format!("</tns:{name}>"));
}

/// The PersonLookupResponse element for `p`, in the schema's order (the sandbox's side).
pub fn response(p: &Person) -> String {
    let mut x = format!(r#"<tns:PersonLookupResponse xmlns:tns="{NS}"><tns:persondata>"#);
    elements(
        &mut x,
        &[
            ("personnummer", Some(&p.cpr)),
            ("gaeldendePersonnummer", p.current_cpr.as_deref()),
        ],
    );
    if let Some(n) = &p.name {
        x.push_str("<tns:navn>");
        elements(
            &mut x,
            &[
                ("personadresseringsnavn", Some(&n.addressing)),
                ("fornavn", n.given.as_deref()),
                ("mellemnavn", n.middle.as_deref()),
                ("efternavn", n.family.as_deref()),
            ],
        );
        x.push_str("</tns:navn>");
    }
    if let Some(b) = &p.birth_date {
        x.push_str(&format!(
            "<tns:foedselsdato><tns:dato>{b}</tns:dato></tns:foedselsdato>"
        ));
    }
    x.push_str(&format!(
        "<tns:antalBoernUnder18>{}</tns:antalBoernUnder18>",
        p.children.len()
    ));
    if let Some(s) = p.status {
        x.push_str(&format!(
            "<tns:status><tns:status>{s}</tns:status></tns:status>"
        ));
    }
    if let Some(g) = &p.guardian {
        x.push_str("<tns:umyndiggoerelse>");
        let kind = if g.cpr.is_some() { "1" } else { "2" };
        elements(
            &mut x,
            &[
                ("umyndiggorelseRelationType", Some(kind)),
                ("relationPersonnummer", g.cpr.as_deref()),
                ("relationVaergenavn", g.name.as_deref()),
            ],
        );
        x.push_str(&format!(
            "<tns:umyndiggoerelseStartdato><tns:dato>{}</tns:dato></tns:umyndiggoerelseStartdato><tns:umyndiggjort>true</tns:umyndiggjort>",
            g.since.as_deref().unwrap_or("2000-01-01")
        ));
        x.push_str("</tns:umyndiggoerelse>");
    }
    if let Some(protected) = p.address_protected {
        x.push_str(&format!(
            "<tns:adressebeskyttelse><tns:beskyttet>{protected}</tns:beskyttet></tns:adressebeskyttelse>"
        ));
    }
    if let Some(dp) = p.digital_post {
        x.push_str(&format!(
            "<tns:tilmeldtDigitalpost>{dp}</tns:tilmeldtDigitalpost>"
        ));
    }
    x.push_str("</tns:persondata>");
    if p.address.is_some() || p.abroad.is_some() || !p.address_history.is_empty() {
        x.push_str("<tns:adresse>");
        if let Some(a) = &p.address {
            x.push_str("<tns:aktuelAdresse>");
            let code = a.municipality_code.map(|c| c.to_string());
            elements(
                &mut x,
                &[
                    ("kommunekode", code.as_deref()),
                    ("husnummer", a.house_number.as_deref()),
                    ("etage", a.floor.as_deref()),
                    ("sidedoer", a.door.as_deref()),
                    ("postnummer", a.postcode.as_deref()),
                    ("postdistrikt", a.city.as_deref()),
                    ("vejnavn", a.street.as_deref()),
                    ("standardadresse", Some(&a.line())),
                ],
            );
            if let Some(d) = &a.moved_in {
                x.push_str(&format!(
                    "<tns:tilflytningsdato><tns:dato>{}</tns:dato></tns:tilflytningsdato>",
                    date_time(d)
                ));
            }
            x.push_str("</tns:aktuelAdresse>");
        }
        if let Some(u) = &p.abroad {
            x.push_str("<tns:udrejseoplysninger>");
            let code = u.country_code.map(|c| c.to_string());
            elements(&mut x, &[("udrejselandekode", code.as_deref())]);
            if let Some(d) = &u.since {
                x.push_str(&format!(
                    "<tns:udrejsedato><tns:dato>{}</tns:dato></tns:udrejsedato>",
                    date_time(d)
                ));
            }
            for (i, line) in u.lines.iter().take(5).enumerate() {
                let name = format!("udlandsadresse{}", i + 1);
                elements(&mut x, &[(&name, Some(line))]);
            }
            x.push_str("</tns:udrejseoplysninger>");
        }
        for h in &p.address_history {
            x.push_str("<tns:adresseHistorik>");
            let code = h.municipality_code.map(|c| c.to_string());
            elements(
                &mut x,
                &[
                    ("kommunekode", code.as_deref()),
                    ("husnummer", h.house_number.as_deref()),
                    ("postnummer", h.postcode.as_deref()),
                    ("postdistrikt", h.city.as_deref()),
                    ("vejnavn", h.street.as_deref()),
                ],
            );
            for (name, d) in [
                ("tilflytningsdato", &h.moved_in),
                ("fraflytningsdato", &h.moved_out),
            ] {
                if let Some(d) = d {
                    x.push_str(&format!(
                        "<tns:{name}><tns:dato>{}</tns:dato></tns:{name}>",
                        date_time(d)
                    ));
                }
            }
            x.push_str("</tns:adresseHistorik>");
        }
        x.push_str("</tns:adresse>");
    }
    let related = p.spouse.is_some()
        || !p.children.is_empty()
        || p.mother.is_some()
        || p.father.is_some()
        || !p.custody.is_empty();
    if related {
        x.push_str("<tns:relationer>");
        relative_xml(&mut x, "aegtefaelle", &p.spouse);
        for c in &p.children {
            x.push_str("<tns:barn>");
            elements(&mut x, &[("personnummer", Some(c))]);
            x.push_str("</tns:barn>");
        }
        relative_xml(&mut x, "mor", &p.mother);
        relative_xml(&mut x, "far", &p.father);
        for c in &p.custody {
            x.push_str(&format!(
                "<tns:foraeldremyndighed><tns:foraeldremyndighedtype>{}</tns:foraeldremyndighedtype>",
                c.kind
            ));
            if let Some(s) = &c.since {
                x.push_str(&format!(
                    "<tns:foraeldremyndighedStartdato><tns:dato>{s}</tns:dato></tns:foraeldremyndighedStartdato>"
                ));
            }
            elements(&mut x, &[("relationPersonnummer", c.cpr.as_deref())]);
            x.push_str("</tns:foraeldremyndighed>");
        }
        x.push_str("</tns:relationer>");
    }
    x.push_str("</tns:PersonLookupResponse>");
    x
}

/// A SOAP 1.1 fault carrying a ServiceplatformFault with one error (the sandbox's
/// side); `code` is `Client` or `Server`.
pub fn fault(code: &str, error_code: &str, text: &str) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{}"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{}</faultstring><detail><spf:ServiceplatformFault xmlns:spf="{FAULT_NS}"><spf:ErrorList><spf:Error><spf:ErrorCode>{}</spf:ErrorCode><spf:ErrorText>{}</spf:ErrorText></spf:Error></spf:ErrorList></spf:ServiceplatformFault></detail></soap:Fault></soap:Body></soap:Envelope>"#,
        crate::serviceplatformen::idws::SOAP11,
        esc(text),
        esc(error_code),
        esc(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn everyone() -> Person {
        Person {
            cpr: "0101901234".into(),
            current_cpr: None,
            name: Some(Name {
                addressing: "Jensen,Anne Sofie".into(),
                given: Some("Anne".into()),
                middle: Some("Sofie".into()),
                family: Some("Jensen".into()),
            }),
            birth_date: Some("1990-01-01".into()),
            status: Some(1),
            address: Some(Address {
                municipality_code: Some(101),
                street: Some("Nørrebrogade".into()),
                house_number: Some("12".into()),
                floor: Some("3".into()),
                door: Some("tv".into()),
                postcode: Some("2200".into()),
                city: Some("København N".into()),
                moved_in: Some("2019-03-01".into()),
            }),
            abroad: None,
            address_history: vec![PastAddress {
                municipality_code: Some(147),
                street: Some("Gammel Kongevej".into()),
                house_number: Some("7".into()),
                postcode: Some("1850".into()),
                city: Some("Frederiksberg C".into()),
                moved_in: Some("2012-08-01".into()),
                moved_out: Some("2019-03-01".into()),
            }],
            address_protected: Some(true),
            digital_post: Some(true),
            spouse: Some(Relative {
                cpr: Some("0202891234".into()),
                ..Default::default()
            }),
            children: vec!["0303151234".into(), "0404171234".into()],
            mother: Some(Relative {
                cpr: None,
                name: Some("Karen Jensen".into()),
                birth_date: Some("1960-05-05".into()),
            }),
            father: None,
            custody: vec![Custody {
                kind: 5,
                cpr: Some("0505701234".into()),
                since: Some("2020-01-01".into()),
            }],
            guardian: Some(Guardian {
                cpr: Some("0606651234".into()),
                name: Some("Advokat Hansen".into()),
                since: Some("2021-06-01".into()),
            }),
        }
    }

    fn envelope(body: &str) -> String {
        format!(
            r#"<soap:Envelope xmlns:soap="{}"><soap:Body>{body}</soap:Body></soap:Envelope>"#,
            crate::serviceplatformen::idws::SOAP11
        )
    }

    #[test]
    fn a_response_reads_back_as_it_was_written() {
        let p = everyone();
        assert_eq!(read(&envelope(&response(&p)), &p.cpr).unwrap(), p);
        let abroad = Person {
            cpr: "0707801234".into(),
            status: Some(80),
            abroad: Some(Abroad {
                country_code: Some(5170),
                since: Some("2024-02-01".into()),
                lines: vec!["Storgatan 1".into(), "Malmö".into()],
            }),
            ..Default::default()
        };
        assert_eq!(
            read(&envelope(&response(&abroad)), &abroad.cpr).unwrap(),
            abroad
        );
    }

    #[test]
    fn the_response_and_the_request_validate_against_the_official_schema() {
        let xsd = crate::medcom::formats().join(crate::cpr::XSD);
        knudepunkt_engine::transform::xsd::validate(&xsd, response(&everyone()).as_bytes())
            .unwrap();
        knudepunkt_engine::transform::xsd::validate(&xsd, request("0101901234").as_bytes())
            .unwrap();
    }

    #[test]
    fn a_faults_errors_are_read() {
        let f = fault("Client", "PNR_FINDES_IKKE", "PNR findes ikke i CPR");
        assert_eq!(
            fault_errors(&f),
            [(
                "PNR_FINDES_IKKE".to_string(),
                "PNR findes ikke i CPR".to_string()
            )]
        );
    }
}
