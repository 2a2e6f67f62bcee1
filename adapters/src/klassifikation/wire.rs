//! The Klasse service's messages as Knudepunkt writes and reads them: soeg for the
//! classes under a facet (a page of UUIDs), list for the classes themselves, and a
//! class as the service answers it (the sandbox's side).

use super::NS;
use super::emneplan::KleClass;
use crate::sts_service::objekt;
use crate::sts_service::retur::SAGDOK_NS;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// soeg: the classes under `facet`, from `first` (0-based), at most `max`.
pub fn soeg(facet: &uuid::Uuid, first: usize, max: usize) -> String {
    objekt::soeg(NS, first, max, &objekt::relation("Facet", "", facet))
}

/// list: the classes `ids`.
pub fn list(ids: &[String]) -> String {
    objekt::list(NS, ids)
}

pub use objekt::ids;

/// A class as list gives it: its UUID, KLE number, title, validity, the UUID of the
/// class above it, and the UUIDs of the classes it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Klasse {
    pub uuid: String,
    pub number: String,
    pub title: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub parent: Option<String>,
    pub replaces: Vec<String>,
}

/// The classes a list answered with.
pub fn classes(text: &str) -> Result<Vec<Klasse>, String> {
    Ok(objekt::read(NS, "TitelTekst", text)?
        .into_iter()
        .map(|o| {
            let parent = o.related("OverordnetKlasse").next().map(|r| r.to.clone());
            let replaces = o.related("Erstatter").map(|r| r.to.clone()).collect();
            Klasse {
                parent,
                replaces,
                uuid: o.uuid,
                number: o.key,
                title: o.name,
                from: o.from,
                to: o.until,
            }
        })
        .collect())
}

/// A class as the service answers list (the sandbox's side): `replaces` are the
/// numbers of the classes it replaced.
pub fn filtreret(c: &KleClass, facet: &uuid::Uuid, replaces: &[&str]) -> String {
    let uuid = super::uuid_of(&c.number);
    let virkning = objekt::virkning(
        c.created.as_deref().unwrap_or("1988-01-01"),
        c.expired.as_deref(),
    );
    let erstatter: String = replaces
        .iter()
        .map(|n| objekt::relation("Erstatter", "", &super::uuid_of(n)))
        .collect();
    let parent = c
        .parent
        .as_deref()
        .map(|p| objekt::relation("OverordnetKlasse", "", &super::uuid_of(p)))
        .unwrap_or_default();
    let title: String = c.title.chars().take(300).collect();
    format!(
        "<klasse:FiltreretOejebliksbillede xmlns:klasse=\"{NS}\" xmlns:sd=\"{SAGDOK_NS}\"><klasse:ObjektType><sd:UUIDIdentifikator>{uuid}</sd:UUIDIdentifikator></klasse:ObjektType><klasse:Registrering><sd:LivscyklusKode>Importeret</sd:LivscyklusKode><klasse:AttributListe><klasse:Egenskab>{virkning}<sd:BrugervendtNoegleTekst>{}</sd:BrugervendtNoegleTekst><sd:TitelTekst>{}</sd:TitelTekst></klasse:Egenskab></klasse:AttributListe><klasse:TilstandListe><klasse:PubliceretStatus>{virkning}<sd:ErPubliceretIndikator>true</sd:ErPubliceretIndikator></klasse:PubliceretStatus></klasse:TilstandListe><klasse:RelationListe>{erstatter}{}{parent}</klasse:RelationListe></klasse:Registrering></klasse:FiltreretOejebliksbillede>",
        esc(&c.number),
        esc(&title),
        objekt::relation("Facet", "", facet),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::klassifikation::Level;

    fn class() -> KleClass {
        KleClass {
            number: "27.36.12".into(),
            title: "Socialpædagogisk bistand <& støtte>".into(),
            level: Level::Emne,
            parent: Some("27.36".into()),
            created: Some("2007-01-01".into()),
            expired: None,
            replaced_by: None,
        }
    }

    #[test]
    fn a_class_reads_back_from_its_list_answer() {
        let facet = super::super::kle_facet();
        let body = format!(
            r#"<klasse:ListOutput xmlns:klasse="{NS}" xmlns:sd="{SAGDOK_NS}"><sd:StandardRetur><sd:StatusKode>20</sd:StatusKode></sd:StandardRetur>{}</klasse:ListOutput>"#,
            filtreret(&class(), &facet, &["27.36.99"])
        );
        let got = classes(&body).unwrap();
        assert_eq!(
            got,
            [Klasse {
                uuid: super::super::uuid_of("27.36.12").to_string(),
                number: "27.36.12".into(),
                title: "Socialpædagogisk bistand <& støtte>".into(),
                from: Some("2007-01-01".into()),
                to: None,
                parent: Some(super::super::uuid_of("27.36").to_string()),
                replaces: vec![super::super::uuid_of("27.36.99").to_string()],
            }]
        );
    }

    #[test]
    fn the_requests_and_the_answer_validate_against_the_official_schema() {
        let xsd = crate::medcom::formats().join(super::super::XSD);
        let v = |xml: &str| knudepunkt_engine::transform::xsd::validate(&xsd, xml.as_bytes());
        v(&soeg(&super::super::kle_facet(), 0, 500)).unwrap();
        v(&list(&[super::super::uuid_of("27").to_string()])).unwrap();
        let mut expired = class();
        expired.expired = Some("2014-11-01".into());
        let answer = format!(
            r#"<klasse:ListOutput xmlns:klasse="{NS}" xmlns:sd="{SAGDOK_NS}"><sd:StandardRetur><sd:StatusKode>20</sd:StatusKode></sd:StandardRetur>{}</klasse:ListOutput>"#,
            filtreret(&expired, &super::super::kle_facet(), &[])
        );
        v(&answer).unwrap();
        assert!(v(&list(&["ikke-en-uuid".into()])).is_err());
    }
}
