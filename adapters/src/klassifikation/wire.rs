//! The Klasse service's messages as Knudepunkt writes and reads them: soeg for the
//! classes under a facet (a page of UUIDs), list for the classes themselves, and a
//! class as the service answers it (the sandbox's side).

use super::NS;
use super::emneplan::KleClass;
use crate::serviceplatformen::security::dom::Document;
use crate::sts_service::retur::SAGDOK_NS;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// soeg: the classes under `facet`, from `first` (0-based), at most `max`.
pub fn soeg(facet: &uuid::Uuid, first: usize, max: usize) -> String {
    format!(
        r#"<klasse:SoegInput xmlns:klasse="{NS}" xmlns:sd="{SAGDOK_NS}"><sd:FoersteResultatReference>{first}</sd:FoersteResultatReference><sd:MaksimalAntalKvantitet>{max}</sd:MaksimalAntalKvantitet><klasse:AttributListe/><klasse:TilstandListe/><klasse:RelationListe><sd:Facet><sd:ReferenceID><sd:UUIDIdentifikator>{facet}</sd:UUIDIdentifikator></sd:ReferenceID></sd:Facet></klasse:RelationListe></klasse:SoegInput>"#
    )
}

/// list: the classes `ids`.
pub fn list(ids: &[String]) -> String {
    let ids: String = ids
        .iter()
        .map(|i| format!("<sd:UUIDIdentifikator>{}</sd:UUIDIdentifikator>", esc(i)))
        .collect();
    format!(
        r#"<klasse:ListInput xmlns:klasse="{NS}" xmlns:sd="{SAGDOK_NS}">{ids}</klasse:ListInput>"#
    )
}

/// The UUIDs a soeg answered with (its IdListe).
pub fn ids(text: &str) -> Result<Vec<String>, String> {
    let doc = Document::parse(text).map_err(|e| format!("the answer does not read: {e}"))?;
    Ok(doc
        .find(SAGDOK_NS, "IdListe")
        .first()
        .and_then(|p| doc.at(p))
        .map(|l| {
            l.elements_named("UUIDIdentifikator")
                .map(|u| u.text().trim().to_string())
                .collect()
        })
        .unwrap_or_default())
}

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
    Ok(crate::sts_service::objekt::read(NS, "TitelTekst", text)?
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

fn tidspunkt(date: Option<&str>) -> String {
    match date {
        Some(d) => format!("<sd:TidsstempelDatoTid>{d}T00:00:00</sd:TidsstempelDatoTid>"),
        None => "<sd:GraenseIndikator>true</sd:GraenseIndikator>".into(),
    }
}

fn reference(element: &str, uuid: &uuid::Uuid) -> String {
    format!(
        "<sd:{element}><sd:ReferenceID><sd:UUIDIdentifikator>{uuid}</sd:UUIDIdentifikator></sd:ReferenceID></sd:{element}>"
    )
}

/// A class as the service answers list (the sandbox's side): `replaces` are the
/// numbers of the classes it replaced.
pub fn filtreret(c: &KleClass, facet: &uuid::Uuid, replaces: &[&str]) -> String {
    let uuid = super::uuid_of(&c.number);
    let virkning = format!(
        "<sd:Virkning><sd:FraTidspunkt>{}</sd:FraTidspunkt><sd:TilTidspunkt>{}</sd:TilTidspunkt></sd:Virkning>",
        tidspunkt(Some(c.created.as_deref().unwrap_or("1988-01-01"))),
        tidspunkt(c.expired.as_deref())
    );
    let erstatter: String = replaces
        .iter()
        .map(|n| reference("Erstatter", &super::uuid_of(n)))
        .collect();
    let parent = c
        .parent
        .as_deref()
        .map(|p| reference("OverordnetKlasse", &super::uuid_of(p)))
        .unwrap_or_default();
    let title: String = c.title.chars().take(300).collect();
    format!(
        "<klasse:FiltreretOejebliksbillede xmlns:klasse=\"{NS}\" xmlns:sd=\"{SAGDOK_NS}\"><klasse:ObjektType><sd:UUIDIdentifikator>{uuid}</sd:UUIDIdentifikator></klasse:ObjektType><klasse:Registrering><sd:LivscyklusKode>Importeret</sd:LivscyklusKode><klasse:AttributListe><klasse:Egenskab>{virkning}<sd:BrugervendtNoegleTekst>{}</sd:BrugervendtNoegleTekst><sd:TitelTekst>{}</sd:TitelTekst></klasse:Egenskab></klasse:AttributListe><klasse:TilstandListe><klasse:PubliceretStatus>{virkning}<sd:ErPubliceretIndikator>true</sd:ErPubliceretIndikator></klasse:PubliceretStatus></klasse:TilstandListe><klasse:RelationListe>{erstatter}{}{parent}</klasse:RelationListe></klasse:Registrering></klasse:FiltreretOejebliksbillede>",
        esc(&c.number),
        esc(&title),
        reference("Facet", facet),
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
