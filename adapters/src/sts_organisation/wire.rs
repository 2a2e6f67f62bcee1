//! STS Organisation's soeg and list as Knudepunkt writes and reads them, and an object
//! as the service answers list (the sandbox's side).

use super::{FAELLES_NS, Kind};
use crate::sts_service::objekt;
pub use crate::sts_service::objekt::{Objekt, Rel, relation, relation_urn, virkning};
use crate::sts_service::retur::SAGDOK_NS;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// soeg: every object of `kind` (empty criteria), from `first`, at most `max`.
pub fn soeg(kind: Kind, first: usize, max: usize) -> String {
    objekt::soeg(kind.ns(), first, max, "")
}

/// list: the objects `ids` of `kind`.
pub fn list(kind: Kind, ids: &[String]) -> String {
    objekt::list(kind.ns(), ids)
}

/// An object of `kind` as list answers it: its key and name over `virkning`, in force
/// (Gyldighed Aktiv) or not, and its relations (already in the schema's order).
pub fn filtreret(
    kind: Kind,
    uuid: &uuid::Uuid,
    key: &str,
    name: &str,
    virkning: &str,
    active: bool,
    relations: &str,
) -> String {
    let ns = kind.ns();
    let name_el = kind.name_element();
    let status = if active { "Aktiv" } else { "Inaktiv" };
    format!(
        r#"<o:FiltreretOejebliksbillede xmlns:o="{ns}" xmlns:sd="{SAGDOK_NS}" xmlns:orgfaelles="{FAELLES_NS}"><o:ObjektType><sd:UUIDIdentifikator>{uuid}</sd:UUIDIdentifikator></o:ObjektType><o:Registrering><sd:LivscyklusKode>Importeret</sd:LivscyklusKode><o:AttributListe><o:Egenskab>{virkning}<sd:BrugervendtNoegleTekst>{}</sd:BrugervendtNoegleTekst><sd:{name_el}>{}</sd:{name_el}></o:Egenskab></o:AttributListe><o:TilstandListe><orgfaelles:Gyldighed>{virkning}<orgfaelles:GyldighedStatusKode>{status}</orgfaelles:GyldighedStatusKode></orgfaelles:Gyldighed></o:TilstandListe><o:RelationListe>{relations}</o:RelationListe></o:Registrering></o:FiltreretOejebliksbillede>"#,
        esc(key),
        esc(name)
    )
}

/// The objects a list of `kind` answered with (their current registration).
pub fn objects(kind: Kind, text: &str) -> Result<Vec<Objekt>, String> {
    objekt::read(kind.ns(), kind.name_element(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(kind: Kind, body: &str) -> String {
        format!(
            r#"<o:ListOutput xmlns:o="{}" xmlns:sd="{SAGDOK_NS}"><sd:StandardRetur><sd:StatusKode>20</sd:StatusKode></sd:StandardRetur>{body}</o:ListOutput>"#,
            kind.ns()
        )
    }

    #[test]
    fn each_kind_validates_against_the_official_schema_and_reads_back() {
        let formats = crate::medcom::formats();
        let unit = super::super::uuid_of("enhed", "bch-01");
        let parent = super::super::uuid_of("enhed", "bch");
        let v = virkning("2020-01-01", None);
        let ended = virkning("2020-01-01", Some("2026-11-27"));
        let cases = [
            (
                Kind::Enhed,
                filtreret(
                    Kind::Enhed,
                    &unit,
                    "bch-01",
                    "Borgercenter Handicap, Myndighed Nord",
                    &v,
                    true,
                    &format!(
                        "{}{}",
                        relation("Overordnet", &v, &parent),
                        relation_urn(
                            "Produktionsenhed",
                            &v,
                            &super::super::p_number_urn("1000001000")
                        )
                    ),
                ),
            ),
            (
                Kind::Bruger,
                filtreret(
                    Kind::Bruger,
                    &super::super::uuid_of("bruger", "m000001"),
                    "m000001",
                    "Anne Jensen",
                    &v,
                    true,
                    &format!(
                        "{}{}",
                        relation("TilknyttedeEnheder", &ended, &parent),
                        relation("TilknyttedeEnheder", &v, &unit)
                    ),
                ),
            ),
            (
                Kind::Funktion,
                filtreret(
                    Kind::Funktion,
                    &super::super::uuid_of("funktion", "leder:bch-01"),
                    "leder:bch-01",
                    super::super::LEDER,
                    &v,
                    true,
                    &format!(
                        "{}{}",
                        relation(
                            "TilknyttedeBrugere",
                            &v,
                            &super::super::uuid_of("bruger", "m000001")
                        ),
                        relation("TilknyttedeEnheder", &v, &unit)
                    ),
                ),
            ),
        ];
        for (kind, object) in cases {
            let xsd = formats.join(kind.xsd());
            let text = answer(kind, &object);
            knudepunkt_engine::transform::xsd::validate(&xsd, text.as_bytes())
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            knudepunkt_engine::transform::xsd::validate(&xsd, soeg(kind, 0, 100).as_bytes())
                .unwrap();
            knudepunkt_engine::transform::xsd::validate(
                &xsd,
                list(kind, &[unit.to_string()]).as_bytes(),
            )
            .unwrap();
            let read = objects(kind, &text).unwrap();
            assert_eq!(read.len(), 1);
        }
        let bruger = objects(Kind::Bruger, &answer(Kind::Bruger, &cases_bruger())).unwrap();
        let engagements: Vec<&Rel> = bruger[0].related("TilknyttedeEnheder").collect();
        assert_eq!(engagements[0].until.as_deref(), Some("2026-11-27"));
        assert_eq!(engagements[1].until, None);
    }

    fn cases_bruger() -> String {
        let v = virkning("2020-01-01", None);
        let ended = virkning("2020-01-01", Some("2026-11-27"));
        filtreret(
            Kind::Bruger,
            &super::super::uuid_of("bruger", "m1"),
            "m1",
            "Bo",
            &v,
            true,
            &format!(
                "{}{}",
                relation(
                    "TilknyttedeEnheder",
                    &ended,
                    &super::super::uuid_of("enhed", "a")
                ),
                relation(
                    "TilknyttedeEnheder",
                    &v,
                    &super::super::uuid_of("enhed", "b")
                )
            ),
        )
    }
}
