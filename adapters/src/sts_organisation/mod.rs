//! STS Organisation (SF1500, version 6): the organisation as OrganisationEnhed (units,
//! with Overordnet and Produktionsenhed), Bruger (users, with TilknyttedeEnheder: their
//! engagements, each with its Virkning) and OrganisationFunktion (Leder: a unit's
//! manager; Stedfortræder: who substitutes for a unit's manager), each read with soeg
//! and list (SOAP 1.2, OIO IDWS). The client gives the same model as KK-ORG2's
//! ([`crate::kkorg::model`]), so either source is a configuration choice and the same
//! people and units come out. The schemas are in the reference data.

pub mod client;
pub mod simulator;
pub mod wire;

pub use client::StsOrganisationClient;

/// The object types read, with their namespace, the SOAP action's path, the element of
/// their name, and where the sandbox serves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Enhed,
    Bruger,
    Funktion,
}

impl Kind {
    pub fn ns(self) -> &'static str {
        match self {
            Kind::Enhed => "http://stoettesystemerne.dk/organisation/organisationenhed/6/",
            Kind::Bruger => "http://stoettesystemerne.dk/organisation/bruger/6/",
            Kind::Funktion => "http://stoettesystemerne.dk/organisation/organisationfunktion/6/",
        }
    }

    /// The SOAP action, `{operation}` for soeg or list (from the WSDLs).
    pub fn action(self) -> &'static str {
        match self {
            Kind::Enhed => "http://kombit.dk/sts/organisation/organisationenhed/{operation}",
            Kind::Bruger => "http://kombit.dk/sts/organisation/bruger/{operation}",
            Kind::Funktion => "http://kombit.dk/sts/organisation/organisationfunktion/{operation}",
        }
    }

    /// The Egenskab element holding the object's name.
    pub fn name_element(self) -> &'static str {
        match self {
            Kind::Enhed => "EnhedNavn",
            Kind::Bruger => "BrugerNavn",
            Kind::Funktion => "FunktionNavn",
        }
    }

    /// The service's path under the endpoint (and the sandbox's).
    pub fn path(self) -> &'static str {
        match self {
            Kind::Enhed => "organisationenhed/6",
            Kind::Bruger => "bruger/6",
            Kind::Funktion => "organisationfunktion/6",
        }
    }

    /// The operations' schema, under the reference data.
    pub fn xsd(self) -> String {
        let file = match self {
            Kind::Enhed => "OrganisationEnhedOperationer.xsd",
            Kind::Bruger => "BrugerOperationer.xsd",
            Kind::Funktion => "OrganisationFunktionOperationer.xsd",
        };
        format!(
            "sf1500-sf1510/Tekniske specifikationer (v6.0 Services)/v6_0_0_0/xsd/6.0.STS-0/{file}"
        )
    }
}

/// OrganisationFaelles (Gyldighed).
pub const FAELLES_NS: &str = "http://stoettesystemerne.dk/organisation/6/";
/// The entity id the sandbox's STS Organisation takes assertions for.
pub const ENTITY_ID: &str = "http://entityid.kombit.dk/service/organisation/6";
/// Where the sandbox serves the services.
pub const BASE: &str = "/organisation";
/// The function names (FunktionNavn) read.
pub const LEDER: &str = "Leder";
pub const STEDFORTRAEDER: &str = "Stedfortræder";

/// An object's UUID in the sandbox, from its key.
pub fn uuid_of(kind: &str, key: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("urn:sts-org:{kind}:{key}").as_bytes(),
    )
}

/// The P-number as STS Organisation references it (Produktionsenhed).
pub fn p_number_urn(p: &str) -> String {
    format!("urn:dk:cvr:produktionsenhed:{p}")
}
