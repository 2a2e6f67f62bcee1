//! What the sandbox's hospital (and GP) write: MedCom messages to the municipality, each
//! valid against its official schema (XDIS21 against the project's own model), with
//! fresh identifiers and the current Copenhagen time.

use super::identifier;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Now, in Copenhagen, and fresh identifiers for one message.
struct Stamp {
    today: String,
    hm: String,
    hms: String,
    envelope: String,
    letter: String,
    stay: String,
}

impl Stamp {
    fn new() -> Self {
        let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen);
        let seed = uuid::Uuid::new_v4().to_string();
        Stamp {
            today: now.format("%Y-%m-%d").to_string(),
            hm: now.format("%H:%M").to_string(),
            hms: now.format("%H:%M:%S").to_string(),
            envelope: identifier("SE", &seed),
            letter: identifier("SL", &seed),
            stay: identifier("ST", &seed),
        }
    }
}

/// `(YYYY-MM-DD, HH:MM)` as a MedCom `Date` and `Time`.
fn at((date, time): (&str, &str)) -> String {
    format!("<Date>{}</Date><Time>{}</Time>", esc(date), esc(time))
}

/// Text lines joined by `<Break/>`.
fn breaks(text: &str) -> String {
    text.lines().map(esc).collect::<Vec<_>>().join("<Break/>")
}

/// A correspondence message (XDIS91, schema set 2006/07/01) in UTF-8.
pub fn correspondence(
    from: &str,
    to: &str,
    cpr: &str,
    subject: &str,
    text: &str,
    episode: Option<&str>,
) -> String {
    let s = Stamp::new();
    let body = breaks(text);
    let episode = episode
        .map(|e| {
            format!(
                "<EpisodeOfCareIdentifier>{}</EpisodeOfCareIdentifier>",
                esc(e)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/"><Envelope><Sent><Date>{date}</Date><Time>{time}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>pluspositivkvitt</AcknowledgementCode></Envelope><ClinicalEmail><Letter><Identifier>{letter}</Identifier><VersionCode>XD9134L</VersionCode><StatisticalCode>XDIS91</StatisticalCode><Authorisation><Date>{date}</Date><Time>{time}</Time></Authorisation><TypeCode>XDIS91</TypeCode><StatusCode>nytbrev</StatusCode>{episode}</Letter><Sender><EANIdentifier>{from}</EANIdentifier><Identifier>2001060</Identifier><IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>HILLERØD SYGEHUS</OrganisationName><DepartmentName>KIRURGISK AFD. A</DepartmentName><MedicalSpecialityCode>kirurgi_sygehus</MedicalSpecialityCode></Sender><Receiver><EANIdentifier>{to}</EANIdentifier><Identifier>0101</Identifier><IdentifierCode>kommunenummer</IdentifierCode><OrganisationName>Københavns Kommune</OrganisationName></Receiver><Patient><CivilRegistrationNumber>{cpr}</CivilRegistrationNumber><PersonSurnameName>Jensen</PersonSurnameName><PersonGivenName>Anna</PersonGivenName><EpisodeOfCareStatusCode>inaktiv</EpisodeOfCareStatusCode></Patient><AdditionalInformation><Priority>rutine</Priority><Subject>{subject}</Subject></AdditionalInformation><ClinicalInformation><Text01>{body}</Text01></ClinicalInformation></ClinicalEmail></Emessage>"#,
        date = s.today,
        time = s.hm,
        envelope = s.envelope,
        letter = s.letter,
        from = esc(from),
        to = esc(to),
        cpr = esc(cpr),
        subject = esc(subject),
    )
}

/// An admission notice (XDIS20, schema set 2005/08/07) from the hospital's department
/// `from` to the municipality `to`: the citizen `cpr` was admitted at `date` (YYYY-MM-DD)
/// `time` (HH:MM).
pub fn admission_notice(from: &str, to: &str, cpr: &str, date: &str, time: &str) -> String {
    let s = Stamp::new();
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"><Envelope><Sent><Date>{today}</Date><Time>{hm}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>pluspositivkvitt</AcknowledgementCode></Envelope><NotificationOfAdmission><Letter><Identifier>{letter}</Identifier><VersionCode>XD2030C</VersionCode><StatisticalCode>XDIS20</StatisticalCode><Authorisation><Date>{today}</Date><TimeWithSec>{hms}</TimeWithSec></Authorisation><TypeCode>XDIS20</TypeCode><StatusCode>nytbrev</StatusCode><NotificationIdentifier>{stay}</NotificationIdentifier></Letter><Sender><EANIdentifier>{from}</EANIdentifier><Identifier>2001060</Identifier><IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>HILLERØD SYGEHUS</OrganisationName><DepartmentName>MEDICINSK AFD. M</DepartmentName><AnswerTo><EANIdentifier>{from}</EANIdentifier></AnswerTo></Sender><Receiver><EANIdentifier>{to}</EANIdentifier><Identifier>101</Identifier><IdentifierCode>kommunenummer</IdentifierCode><OrganisationName>Københavns Kommune</OrganisationName></Receiver><Patient><CivilRegistrationNumber>{cpr}</CivilRegistrationNumber><EpisodeOfCareStatusCode>indlagt</EpisodeOfCareStatusCode></Patient><Admission><Date>{date}</Date><Time>{time}</Time></Admission></NotificationOfAdmission></Emessage>"#,
        today = s.today,
        hm = s.hm,
        hms = s.hms,
        envelope = s.envelope,
        letter = s.letter,
        stay = s.stay,
        from = esc(from),
        to = esc(to),
        cpr = esc(cpr),
        date = esc(date),
        time = esc(time),
    )
}

/// A discharge notice (XDIS17, schema set 2005/08/07) from the hospital's department
/// `from` to the municipality `to`: the citizen `cpr` was discharged home at `date`
/// `time`.
pub fn discharge_notice(from: &str, to: &str, cpr: &str, date: &str, time: &str) -> String {
    let s = Stamp::new();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"><Envelope><Sent><Date>{today}</Date><Time>{hm}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>pluspositivkvitt</AcknowledgementCode></Envelope><NotificationOfDischarge><Letter><Identifier>{letter}</Identifier><VersionCode>XD1730C</VersionCode><StatisticalCode>XDIS17</StatisticalCode><Authorisation><Date>{today}</Date><TimeWithSec>{hms}</TimeWithSec></Authorisation><TypeCode>XDIS17</TypeCode><StatusCode>nytbrev</StatusCode><NotificationIdentifier>{stay}</NotificationIdentifier></Letter><Sender><EANIdentifier>{from}</EANIdentifier><Identifier>2001060</Identifier><IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>HILLERØD SYGEHUS</OrganisationName><DepartmentName>MEDICINSK AFD. M</DepartmentName></Sender><Receiver><EANIdentifier>{to}</EANIdentifier><Identifier>101</Identifier><IdentifierCode>kommunenummer</IdentifierCode></Receiver><Patient><CivilRegistrationNumber>{cpr}</CivilRegistrationNumber><EpisodeOfCareStatusCode>udskrevet_til_hjemmet</EpisodeOfCareStatusCode></Patient><Discharge><Date>{date}</Date><Time>{time}</Time></Discharge></NotificationOfDischarge></Emessage>"#,
        today = s.today,
        hm = s.hm,
        hms = s.hms,
        envelope = s.envelope,
        letter = s.letter,
        stay = s.stay,
        from = esc(from),
        to = esc(to),
        cpr = esc(cpr),
        date = esc(date),
        time = esc(time),
    )
}

/// A completion notice (XDIS19, Melding om færdigbehandling, schema set 2005/08/07): the
/// citizen `cpr`, admitted at `admitted`, is done with treatment at `done` and is to be
/// discharged at `planned` (each `(YYYY-MM-DD, HH:MM)`).
pub fn completion_notice(
    from: &str,
    to: &str,
    cpr: &str,
    admitted: (&str, &str),
    done: (&str, &str),
    planned: (&str, &str),
) -> String {
    let s = Stamp::new();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"><Envelope><Sent><Date>{today}</Date><Time>{hm}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>pluspositivkvitt</AcknowledgementCode></Envelope><WarningOfDischarge><Letter><Identifier>{letter}</Identifier><VersionCode>XD1930C</VersionCode><StatisticalCode>XDIS19</StatisticalCode><Authorisation><Date>{today}</Date><Time>{hm}</Time></Authorisation><TypeCode>XDIS19</TypeCode><StatusCode>nytbrev</StatusCode></Letter><Sender><EANIdentifier>{from}</EANIdentifier><Identifier>2001060</Identifier><IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>HILLERØD SYGEHUS</OrganisationName><DepartmentName>MEDICINSK AFD. M</DepartmentName><Signatur><PersonSurnameName>Petersen</PersonSurnameName><PersonGivenName>Karen</PersonGivenName><PersonTitle>Overlæge</PersonTitle></Signatur></Sender><Receiver><EANIdentifier>{to}</EANIdentifier><Identifier>101</Identifier><IdentifierCode>kommunenummer</IdentifierCode></Receiver><Patient><CivilRegistrationNumber>{cpr}</CivilRegistrationNumber><PersonSurnameName>Jensen</PersonSurnameName><PersonGivenName>Anna</PersonGivenName><EpisodeOfCareStatusCode>indlagt</EpisodeOfCareStatusCode></Patient><Admission>{admitted}</Admission><EndOfTreatment>{done}</EndOfTreatment><PlannedDischarge>{planned}</PlannedDischarge></WarningOfDischarge></Emessage>"#,
        today = s.today,
        hm = s.hm,
        envelope = s.envelope,
        letter = s.letter,
        from = esc(from),
        to = esc(to),
        cpr = esc(cpr),
        admitted = at(admitted),
        done = at(done),
        planned = at(planned),
    )
}

/// A discharge report (XDIS18, schema set 2007/02/01) from the hospital's department
/// `from` to the municipality `to` about `cpr`: admitted at `admitted`, discharged at
/// `discharged` (each `(YYYY-MM-DD, HH:MM)`), with the ward's clinical text.
pub fn discharge_report(
    from: &str,
    to: &str,
    cpr: &str,
    admitted: (&str, &str),
    discharged: (&str, &str),
    text: &str,
) -> String {
    let s = Stamp::new();
    let body = breaks(text);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2007/02/01/"><Envelope><Sent><Date>{today}</Date><Time>{hm}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>pluspositivkvitt</AcknowledgementCode></Envelope><ReportOfDischarge><Letter><Identifier>{letter}</Identifier><VersionCode>XD1830C</VersionCode><StatisticalCode>XDIS18</StatisticalCode><Authorisation><Date>{today}</Date><Time>{hm}</Time></Authorisation><TypeCode>XDIS18</TypeCode><StatusCode>nytbrev</StatusCode></Letter><Sender><EANIdentifier>{from}</EANIdentifier><Identifier>2001060</Identifier><IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>HILLERØD SYGEHUS</OrganisationName><DepartmentName>MEDICINSK AFD. M</DepartmentName><SignedBy><PersonGivenName>Karen</PersonGivenName><PersonSurnameName>Petersen</PersonSurnameName><PersonTitle>Overlæge</PersonTitle></SignedBy></Sender><Receiver><EANIdentifier>{to}</EANIdentifier><Identifier>101</Identifier><IdentifierCode>kommunenummer</IdentifierCode></Receiver><Patient><CivilRegistrationNumber>{cpr}</CivilRegistrationNumber><PersonSurnameName>Jensen</PersonSurnameName><PersonGivenName>Anna</PersonGivenName></Patient><Admission>{admitted}</Admission><Discharge>{discharged}</Discharge><ClinicalInformation>{body}</ClinicalInformation></ReportOfDischarge></Emessage>"#,
        today = s.today,
        hm = s.hm,
        envelope = s.envelope,
        letter = s.letter,
        from = esc(from),
        to = esc(to),
        cpr = esc(cpr),
        admitted = at(admitted),
        discharged = at(discharged),
    )
}

/// A care plan (XDIS21, Plejeforløbsplan, in the project's own model: see
/// `mappings/medcom/xdis21/`) from the hospital about `cpr`, discharge planned at
/// `planned` (`(YYYY-MM-DD, HH:MM)`), with `sections` as (headline, text).
pub fn care_plan(
    from: &str,
    to: &str,
    cpr: &str,
    planned: (&str, &str),
    sections: &[(&str, &str)],
) -> String {
    let s = Stamp::new();
    let sections: String = sections
        .iter()
        .map(|(headline, text)| {
            format!(
                "<Section><Headline>{}</Headline><SectionText>{}</SectionText></Section>",
                esc(headline),
                breaks(text)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Emessage xmlns="{ns}"><Envelope><Sent><Date>{today}</Date><Time>{hm}</Time></Sent><Identifier>{envelope}</Identifier><AcknowledgementCode>pluspositivkvitt</AcknowledgementCode></Envelope><CarePlan><Letter><Identifier>{letter}</Identifier><VersionCode>XD2130C</VersionCode><StatisticalCode>XDIS21</StatisticalCode><Authorisation><Date>{today}</Date><Time>{hm}</Time></Authorisation><TypeCode>XDIS21</TypeCode><StatusCode>nytbrev</StatusCode></Letter><Sender><EANIdentifier>{from}</EANIdentifier><Identifier>2001060</Identifier><IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>HILLERØD SYGEHUS</OrganisationName><DepartmentName>MEDICINSK AFD. M</DepartmentName></Sender><Receiver><EANIdentifier>{to}</EANIdentifier><Identifier>101</Identifier><IdentifierCode>kommunenummer</IdentifierCode></Receiver><Patient><CivilRegistrationNumber>{cpr}</CivilRegistrationNumber><PersonSurnameName>Jensen</PersonSurnameName><PersonGivenName>Anna</PersonGivenName></Patient><PlannedDischarge><Date>{pd}</Date><Time>{pt}</Time></PlannedDischarge>{sections}</CarePlan></Emessage>"#,
        ns = super::XDIS21_NAMESPACE,
        today = s.today,
        hm = s.hm,
        envelope = s.envelope,
        letter = s.letter,
        from = esc(from),
        to = esc(to),
        cpr = esc(cpr),
        pd = esc(planned.0),
        pt = esc(planned.1),
    )
}
