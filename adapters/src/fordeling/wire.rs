//! SF2900's messages as Knudepunkt and the sandbox read and write them: the
//! anmodning's DistributionContext, the receipts (ForretningsKvittering and the
//! TransportKvittering of a fault), and the recipient checks. Element names and
//! namespaces are those of `DistributionServiceMsg.xsd` and
//! `SF2900_EP_MS1-2/DistributionServiceTypesV2.xsd`: the operations' own children are in
//! [`NS`], the types' children in [`NS2`].

use super::{NS, NS2};
use crate::serviceplatformen::security::dom::Element;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// How the anmodning names its recipient (RoutingValg).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// The system at the authority that handles this KLE emne (and handling facet).
    Kle { emne: String, facet: Option<String> },
    /// This system (RoutingModtagerAktoer).
    Modtager(String),
}

impl Routing {
    /// The RoutingValg's content (in [`NS2`], prefix `fk2`).
    pub fn to_xml(&self) -> String {
        match self {
            Routing::Kle { emne, facet } => format!(
                "<fk2:RoutingKLEEmneHandling><fk2:RoutingKLEEmne>{}</fk2:RoutingKLEEmne>{}</fk2:RoutingKLEEmneHandling>",
                esc(emne),
                facet
                    .as_deref()
                    .map(|f| format!(
                        "<fk2:RoutingHandlingFacet>{}</fk2:RoutingHandlingFacet>",
                        esc(f)
                    ))
                    .unwrap_or_default()
            ),
            Routing::Modtager(uuid) => format!(
                "<fk2:RoutingModtagerAktoer>{}</fk2:RoutingModtagerAktoer>",
                esc(uuid)
            ),
        }
    }
}

/// A DistributionContext: who sends, to which authority, how routed, and the ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub anvender_transaktions_id: String,
    pub distribution_transaktions_id: Option<String>,
    pub afsendende_myndighed: String,
    pub routing_myndighed: String,
    pub routing: Routing,
    pub dokument_fil_navn: Option<String>,
}

impl Context {
    /// Reads a DistributionContext element.
    pub fn read(el: &Element) -> Result<Context, String> {
        let need = |name: &str| {
            el.text_at(&[name])
                .ok_or_else(|| format!("DistributionContext has no {name}"))
        };
        let valg = el
            .elements_named("RoutingValg")
            .next()
            .ok_or("DistributionContext has no RoutingValg")?;
        let routing = if let Some(kle) = valg.elements_named("RoutingKLEEmneHandling").next() {
            Routing::Kle {
                emne: kle
                    .text_at(&["RoutingKLEEmne"])
                    .ok_or("RoutingKLEEmneHandling has no RoutingKLEEmne")?,
                facet: kle.text_at(&["RoutingHandlingFacet"]),
            }
        } else {
            Routing::Modtager(
                valg.text_at(&["RoutingModtagerAktoer"])
                    .ok_or("RoutingValg names neither a KLE emne nor a RoutingModtagerAktoer")?,
            )
        };
        Ok(Context {
            anvender_transaktions_id: need("AnvenderTransaktionsID")?,
            distribution_transaktions_id: el.text_at(&["DistributionTransktionsID"]),
            afsendende_myndighed: need("AfsendendeMyndighed")?,
            routing_myndighed: need("RoutingMyndighed")?,
            routing,
            dokument_fil_navn: el.text_at(&["DokumentFilNavn"]),
        })
    }

    /// The context as element `name` in [`NS`] (prefix `fk`) with its children in
    /// [`NS2`] (prefix `fk2`); both prefixes are declared by the caller.
    pub fn to_xml(&self, element: &str) -> String {
        let opt = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| format!("<fk2:{name}>{}</fk2:{name}>", esc(v)))
                .unwrap_or_default()
        };
        format!(
            "<{element}><fk2:AnvenderTransaktionsID>{}</fk2:AnvenderTransaktionsID>{}<fk2:AfsendendeMyndighed>{}</fk2:AfsendendeMyndighed><fk2:RoutingMyndighed>{}</fk2:RoutingMyndighed><fk2:RoutingValg>{}</fk2:RoutingValg>{}</{element}>",
            esc(&self.anvender_transaktions_id),
            opt(
                "DistributionTransktionsID",
                &self.distribution_transaktions_id
            ),
            esc(&self.afsendende_myndighed),
            esc(&self.routing_myndighed),
            self.routing.to_xml(),
            opt("DokumentFilNavn", &self.dokument_fil_navn),
        )
    }
}

/// What a FordelingsobjektAfsendRequest asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anmodning {
    pub context: Context,
    /// DOKUMENT, JOURNALPOST or FORMULAR.
    pub objekt_type: String,
    /// The object's ID.
    pub objekt_id: String,
}

impl Anmodning {
    /// Reads the request element `FordelingsobjektAfsendRequest`.
    pub fn read(request: &Element) -> Result<Anmodning, String> {
        if request.local != "FordelingsobjektAfsendRequest" {
            return Err(format!(
                "{} is not a FordelingsobjektAfsendRequest",
                request.local
            ));
        }
        let anmodning = request
            .elements_named("anmodning")
            .next()
            .ok_or("FordelingsobjektAfsendRequest has no anmodning")?;
        let context = Context::read(
            anmodning
                .elements_named("DistributionContext")
                .next()
                .ok_or("anmodning has no DistributionContext")?,
        )?;
        let object = anmodning
            .elements_named("DistributionObject")
            .next()
            .ok_or("anmodning has no DistributionObject")?;
        let objekt_type = object
            .text_at(&["ObjektType"])
            .ok_or("DistributionObject has no ObjektType")?;
        let objekt_id = object
            .elements_named("ObjektIndhold")
            .next()
            .and_then(|i| i.elements().next())
            .and_then(|o| o.text_at(&["ID"]))
            .ok_or("DistributionObject's ObjektIndhold has no object with an ID")?;
        Ok(Anmodning {
            context,
            objekt_type,
            objekt_id,
        })
    }
}

/// ForretningsValideringsKode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kode {
    Modtaget,
    Afleveret,
    Accepteret,
    Afvist,
    Fejlet,
}

impl Kode {
    pub fn as_str(self) -> &'static str {
        match self {
            Kode::Modtaget => "MODTAGET",
            Kode::Afleveret => "AFLEVERET",
            Kode::Accepteret => "ACCEPTERET",
            Kode::Afvist => "AFVIST",
            Kode::Fejlet => "FEJLET",
        }
    }

    pub fn parse(s: &str) -> Option<Kode> {
        Some(match s {
            "MODTAGET" => Kode::Modtaget,
            "AFLEVERET" => Kode::Afleveret,
            "ACCEPTERET" => Kode::Accepteret,
            "AFVIST" => Kode::Afvist,
            "FEJLET" => Kode::Fejlet,
            _ => return None,
        })
    }
}

/// A ForretningsKvittering: the code, its kind and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kvittering {
    pub kode: Kode,
    /// `Teknisk`, `Forretning` or `Digital post`.
    pub kvitteringstype: String,
    pub begrundelse: Option<String>,
    /// FejlListe: (FejlKode, FejlTekst).
    pub fejl: Vec<(String, String)>,
}

impl Kvittering {
    pub fn new(kode: Kode, kvitteringstype: &str, begrundelse: Option<&str>) -> Kvittering {
        Kvittering {
            kode,
            kvitteringstype: kvitteringstype.into(),
            begrundelse: begrundelse.map(str::to_string),
            fejl: Vec::new(),
        }
    }

    pub fn read(el: &Element) -> Result<Kvittering, String> {
        let code = el
            .text_at(&["ForretningsValideringsKode"])
            .ok_or("the kvittering has no ForretningsValideringsKode")?;
        let kode = Kode::parse(&code)
            .ok_or_else(|| format!("ForretningsValideringsKode {code:?} is not one SF2900 has"))?;
        Ok(Kvittering {
            kode,
            kvitteringstype: el.text_at(&["Kvitteringstype"]).unwrap_or_default(),
            begrundelse: el.text_at(&["Begrundelse"]),
            fejl: fejl_of(el),
        })
    }

    /// The kvittering as element `element`, its children in [`NS2`] (prefix `fk2`).
    pub fn to_xml(&self, element: &str) -> String {
        format!(
            "<{element}><fk2:ForretningsValideringsKode>{}</fk2:ForretningsValideringsKode><fk2:Kvitteringstype>{}</fk2:Kvitteringstype>{}{}</{element}>",
            self.kode.as_str(),
            esc(&self.kvitteringstype),
            self.begrundelse
                .as_deref()
                .map(|b| format!("<fk2:Begrundelse>{}</fk2:Begrundelse>", esc(b)))
                .unwrap_or_default(),
            fejl_xml("fk2", &self.fejl),
        )
    }

    /// Why, in clear text: the Begrundelse and each FejlKode with its FejlTekst.
    pub fn reason(&self) -> String {
        reason(self.kode.as_str(), self.begrundelse.as_deref(), &self.fejl)
    }
}

fn fejl_of(el: &Element) -> Vec<(String, String)> {
    el.elements_named("FejlListe")
        .flat_map(|l| l.elements_named("Fejl"))
        .map(|f| {
            (
                f.text_at(&["FejlKode"]).unwrap_or_default(),
                f.text_at(&["FejlTekst"]).unwrap_or_default(),
            )
        })
        .collect()
}

fn fejl_xml(prefix: &str, fejl: &[(String, String)]) -> String {
    if fejl.is_empty() {
        return String::new();
    }
    let items: String = fejl
        .iter()
        .map(|(k, t)| {
            format!(
                "<{prefix}:Fejl><{prefix}:FejlKode>{}</{prefix}:FejlKode><{prefix}:FejlTekst>{}</{prefix}:FejlTekst></{prefix}:Fejl>",
                esc(k),
                esc(t)
            )
        })
        .collect();
    format!("<{prefix}:FejlListe>{items}</{prefix}:FejlListe>")
}

fn reason(code: &str, begrundelse: Option<&str>, fejl: &[(String, String)]) -> String {
    let mut parts = vec![code.to_string()];
    if let Some(b) = begrundelse {
        parts.push(b.to_string());
    }
    parts.extend(fejl.iter().map(|(k, t)| format!("{k}: {t}")));
    parts.join(": ")
}

/// A TransportKvittering, the detail of the service's SOAP faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportKvittering {
    /// OK, ADVARSEL or FEJL.
    pub kode: String,
    pub begrundelse: Option<String>,
    pub fejl: Vec<(String, String)>,
}

impl TransportKvittering {
    pub fn fejl(begrundelse: &str, kode: &str, tekst: &str) -> TransportKvittering {
        TransportKvittering {
            kode: "FEJL".into(),
            begrundelse: Some(begrundelse.into()),
            fejl: vec![(kode.into(), tekst.into())],
        }
    }

    pub fn read(el: &Element) -> TransportKvittering {
        TransportKvittering {
            kode: el
                .text_at(&["TransportValideringsKode"])
                .unwrap_or_else(|| "FEJL".into()),
            begrundelse: el.text_at(&["Begrundelse"]),
            fejl: fejl_of(el),
        }
    }

    /// The element `TransportKvittering` in `ns` (the service's [`NS`], or [`NS2`] for
    /// the anvender's endpoint).
    pub fn to_xml(&self, ns: &str) -> String {
        format!(
            r#"<tk:TransportKvittering xmlns:tk="{ns}"><tk:TransportValideringsKode>{}</tk:TransportValideringsKode>{}{}</tk:TransportKvittering>"#,
            esc(&self.kode),
            self.begrundelse
                .as_deref()
                .map(|b| format!("<tk:Begrundelse>{}</tk:Begrundelse>", esc(b)))
                .unwrap_or_default(),
            fejl_xml("tk", &self.fejl),
        )
    }

    pub fn reason(&self) -> String {
        reason(&self.kode, self.begrundelse.as_deref(), &self.fejl)
    }
}

/// The namespace declarations every message here carries.
pub fn namespaces() -> String {
    format!(r#"xmlns:fk="{NS}" xmlns:fk2="{NS2}""#)
}

/// FordelingsmodtagerValiderRequest: can this system at this authority receive?
pub fn valider_request(afsendende: &str, myndighed: &str, modtager: &str) -> String {
    format!(
        "<fk:FordelingsmodtagerValiderRequest {}><fk:AfsendendeMyndighed>{}</fk:AfsendendeMyndighed><fk:RoutingListe><fk2:Routing><fk2:RoutingMyndighed>{}</fk2:RoutingMyndighed><fk2:RoutingModtagerAktoer>{}</fk2:RoutingModtagerAktoer></fk2:Routing></fk:RoutingListe></fk:FordelingsmodtagerValiderRequest>",
        namespaces(),
        esc(afsendende),
        esc(myndighed),
        esc(modtager)
    )
}

/// FordelingsmodtagerListRequest: which systems at this authority take this KLE emne?
pub fn list_request(afsendende: &str, myndighed: &str, emne: &str, facet: Option<&str>) -> String {
    format!(
        "<fk:FordelingsmodtagerListRequest {}><fk:Routing><fk2:AfsendendeMyndighed>{}</fk2:AfsendendeMyndighed><fk2:RoutingMyndighed>{}</fk2:RoutingMyndighed><fk2:RoutingKLEEmne>{}</fk2:RoutingKLEEmne>{}</fk:Routing></fk:FordelingsmodtagerListRequest>",
        namespaces(),
        esc(afsendende),
        esc(myndighed),
        esc(emne),
        facet
            .map(|f| format!(
                "<fk2:RoutingHandlingFacet>{}</fk2:RoutingHandlingFacet>",
                esc(f)
            ))
            .unwrap_or_default()
    )
}

/// One answer of FordelingsmodtagerValider: may (authority, system) receive?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modtager {
    pub myndighed: String,
    pub aktoer: String,
    pub kan_modtage: bool,
}

/// The RoutingModtager of a FordelingsmodtagerValiderResponse.
pub fn read_valider_response(response: &Element) -> Vec<Modtager> {
    response
        .elements_named("RoutingListe")
        .flat_map(|l| l.elements_named("RoutingModtager"))
        .map(|m| Modtager {
            myndighed: m.text_at(&["RoutingMyndighed"]).unwrap_or_default(),
            aktoer: m.text_at(&["RoutingModtagerAktoer"]).unwrap_or_default(),
            kan_modtage: m.text_at(&["KanModtage"]).as_deref() == Some("true"),
        })
        .collect()
}

/// A system that receives documents (a FordelingsmodtagerListResponse's System).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    pub myndighed: String,
    pub uuid: String,
    pub navn: String,
    pub emne: String,
    pub facet: Option<String>,
}

impl System {
    pub fn to_xml(&self) -> String {
        format!(
            "<fk2:System><fk2:SystemMyndighed>{}</fk2:SystemMyndighed><fk2:SystemUUID>{}</fk2:SystemUUID><fk2:SystemNavn>{}</fk2:SystemNavn><fk2:RoutingKLEEmne>{}</fk2:RoutingKLEEmne>{}</fk2:System>",
            esc(&self.myndighed),
            esc(&self.uuid),
            esc(&self.navn),
            esc(&self.emne),
            self.facet
                .as_deref()
                .map(|f| format!(
                    "<fk2:RoutingHandlingFacet>{}</fk2:RoutingHandlingFacet>",
                    esc(f)
                ))
                .unwrap_or_default()
        )
    }
}

/// The systems of a FordelingsmodtagerListResponse.
pub fn read_list_response(response: &Element) -> Vec<System> {
    response
        .elements_named("Systemer")
        .flat_map(|l| l.elements_named("System"))
        .map(|s| System {
            myndighed: s.text_at(&["SystemMyndighed"]).unwrap_or_default(),
            uuid: s.text_at(&["SystemUUID"]).unwrap_or_default(),
            navn: s.text_at(&["SystemNavn"]).unwrap_or_default(),
            emne: s.text_at(&["RoutingKLEEmne"]).unwrap_or_default(),
            facet: s.text_at(&["RoutingHandlingFacet"]),
        })
        .collect()
}

/// A FordelingsmodtagerValiderResponse.
pub fn valider_response(modtagere: &[Modtager]) -> String {
    let items: String = modtagere
        .iter()
        .map(|m| {
            format!(
                "<fk2:RoutingModtager><fk2:RoutingMyndighed>{}</fk2:RoutingMyndighed><fk2:RoutingModtagerAktoer>{}</fk2:RoutingModtagerAktoer><fk2:KanModtage>{}</fk2:KanModtage></fk2:RoutingModtager>",
                esc(&m.myndighed),
                esc(&m.aktoer),
                m.kan_modtage
            )
        })
        .collect();
    format!(
        "<fk:FordelingsmodtagerValiderResponse {}><fk:RoutingListe>{items}</fk:RoutingListe></fk:FordelingsmodtagerValiderResponse>",
        namespaces()
    )
}

/// A FordelingsmodtagerListResponse.
pub fn list_response(systems: &[System]) -> String {
    let items: String = systems.iter().map(System::to_xml).collect();
    format!(
        "<fk:FordelingsmodtagerListResponse {}><fk:Systemer>{items}</fk:Systemer></fk:FordelingsmodtagerListResponse>",
        namespaces()
    )
}

/// A FordelingsobjektAfsendResponse.
pub fn afsend_response(kvittering: &Kvittering, context: &Context) -> String {
    format!(
        "<fk:FordelingsobjektAfsendResponse {}>{}{}</fk:FordelingsobjektAfsendResponse>",
        namespaces(),
        kvittering.to_xml("fk:ForretningsKvittering"),
        context.to_xml("fk:DistributionContext"),
    )
}

/// The FordelingskvitteringModtagAnvenderRequest the service sends the anvender.
pub fn anvender_kvittering(kvittering: &Kvittering, context: &Context) -> String {
    format!(
        r#"<fk2:FordelingskvitteringModtagAnvenderRequest xmlns:fk2="{NS2}">{}{}</fk2:FordelingskvitteringModtagAnvenderRequest>"#,
        kvittering.to_xml("fk2:Forretningskvittering"),
        context.to_xml("fk2:DistributionContext"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serviceplatformen::security::dom::Document;

    fn context(routing: Routing) -> Context {
        Context {
            anvender_transaktions_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            distribution_transaktions_id: Some("7c9e6679-7425-40de-944b-e07fc1f90ae7".into()),
            afsendende_myndighed: "64942212".into(),
            routing_myndighed: "11259979".into(),
            routing,
            dokument_fil_navn: Some("Handleplan & bilag.pdf".into()),
        }
    }

    #[test]
    fn a_receipt_reads_back_as_it_was_written() {
        for routing in [
            Routing::Kle {
                emne: "27.36.04".into(),
                facet: Some("G01".into()),
            },
            Routing::Modtager("3f2504e0-4f89-41d3-9a0c-0305e82c3301".into()),
        ] {
            let mut k = Kvittering::new(Kode::Afvist, "Forretning", Some("Sagen er lukket"));
            k.fejl.push(("F12".into(), "Ukendt sag".into()));
            let ctx = context(routing);
            let xml = anvender_kvittering(&k, &ctx);
            let doc = Document::parse(&xml).unwrap();
            let root = doc.at(&[]).unwrap();
            let back =
                Kvittering::read(root.elements_named("Forretningskvittering").next().unwrap())
                    .unwrap();
            assert_eq!(back, k);
            assert_eq!(back.reason(), "AFVIST: Sagen er lukket: F12: Ukendt sag");
            let ctx_back =
                Context::read(root.elements_named("DistributionContext").next().unwrap()).unwrap();
            assert_eq!(ctx_back, ctx);
        }
    }

    #[test]
    fn every_message_validates_against_its_schema() {
        let Some(dir) = knudepunkt_engine::schema_dir::locate() else {
            return;
        };
        let xsd = dir.path.join(super::super::XSD);
        let ctx = context(Routing::Kle {
            emne: "27.36.04".into(),
            facet: None,
        });
        let system = System {
            myndighed: "11259979".into(),
            uuid: "3f2504e0-4f89-41d3-9a0c-0305e82c3301".into(),
            navn: "Fagsystem".into(),
            emne: "27.36.04".into(),
            facet: Some("G01".into()),
        };
        let modtager = Modtager {
            myndighed: "11259979".into(),
            aktoer: system.uuid.clone(),
            kan_modtage: true,
        };
        for xml in [
            valider_request("64942212", "11259979", &system.uuid),
            list_request("64942212", "11259979", "27.36.04", Some("G01")),
            valider_response(&[modtager]),
            list_response(&[system]),
            afsend_response(&Kvittering::new(Kode::Modtaget, "Teknisk", None), &ctx),
        ] {
            knudepunkt_engine::transform::xsd::validate(&xsd, xml.as_bytes())
                .unwrap_or_else(|e| panic!("{e}: {xml}"));
        }
        let receipt =
            anvender_kvittering(&Kvittering::new(Kode::Accepteret, "Forretning", None), &ctx);
        knudepunkt_engine::transform::xsd::validate(
            &dir.path.join(super::super::ANVENDER_XSD),
            receipt.as_bytes(),
        )
        .unwrap();
    }

    #[test]
    fn a_receipt_without_its_code_says_what_is_missing() {
        let doc = Document::parse("<k><Kvitteringstype>Teknisk</Kvitteringstype></k>").unwrap();
        let e = Kvittering::read(doc.at(&[]).unwrap()).unwrap_err();
        assert!(e.contains("ForretningsValideringsKode"), "{e}");
        let doc =
            Document::parse("<k><ForretningsValideringsKode>OK</ForretningsValideringsKode></k>")
                .unwrap();
        assert!(Kvittering::read(doc.at(&[]).unwrap()).is_err());
    }
}
