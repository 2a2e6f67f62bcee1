//! The case core's part of the demo: a caseworker works a case through the API, access
//! follows job roles, and the decision letter leaves through the engine.

use std::time::Duration;

use serde_json::{Value, json};

use super::stack::Stack;

struct Caseworker<'a> {
    http: &'a reqwest::Client,
    base: String,
    user: &'a str,
}

impl Caseworker<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-knudepunkt-user", self.user)
            .header("x-knudepunkt-purpose", "demo: sagsbehandling");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

/// Runs the case steps; whether they ended as they should.
pub async fn run(stack: &Stack, http: &reqwest::Client, first_step: u32) -> anyhow::Result<bool> {
    let base = format!("http://{}", stack.server_addr);
    let leder = Caseworker {
        http,
        base: base.clone(),
        user: "leder1",
    };
    let actor2 = Caseworker {
        http,
        base,
        user: "aktoer2",
    };
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    super::demo::step(
        first_step,
        "A caseworker at Borgercenter Handicap registers a citizen and opens a case (KLE 27.36.12); eDoc (the records system), the indexes, Beskedfordeler and the Fordelingskomponent carry it on",
    );
    let (s, _) = leder
        .send(post.clone(), "/api/v1/citizens", Some(json!({"cpr": "010190-1234", "given_name": "Anna", "family_name": "Jensen", "address": "Testvej 1, 2300 København S"})))
        .await?;
    let (s2, case) = leder
        .send(
            post.clone(),
            "/api/v1/cases",
            Some(json!({"cpr": "0101901234", "title": "Socialpædagogisk støtte", "kle": "27.36.12", "action_facet": "G01",
                        "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"})),
        )
        .await?;
    let id = case["id"].as_str().unwrap_or_default().to_string();
    println!(
        "   citizen: HTTP {s}; case {id}: HTTP {s2}, status {}",
        case["status"]
    );
    let (s, document) = leder
        .send(
            post.clone(),
            &format!("/api/v1/cases/{id}/documents"),
            Some(json!({"title": "Ansøgning", "doc_type": "Ansøgning", "content": "JVBERi0xLjQK"})),
        )
        .await?;
    println!("   a document added: HTTP {s}");
    let document = document["id"].as_str().unwrap_or_default().to_string();
    let (s, found) = actor2
        .send(
            post.clone(),
            "/api/v1/cases/search",
            Some(json!({"cpr": "0101901234"})),
        )
        .await?;
    let (s3, _) = actor2
        .send(get.clone(), &format!("/sag/{id}"), None)
        .await?;
    println!(
        "   a caseworker at Borgercenter Voksne searches the CPR: HTTP {s}, {} case(s); opens /sag/{id}: HTTP {s3} (audited)",
        found.as_array().map(Vec::len).unwrap_or_default()
    );
    let (s, bad) = leder
        .send(post.clone(), "/api/v1/cases", Some(json!({"cpr": "0101901234", "title": "x", "kle": "27.99.99", "action_facet": "G01", "case_type": "x", "org_unit_id": "bch", "caseworker_id": "leder1"})))
        .await?;
    println!(
        "   an unknown KLE number is refused: HTTP {s}, field {}: {}",
        bad["field"], bad["detail"]
    );

    let indexed = show_in_sapa(stack, &id).await?;
    let pubsub = show_beskedfordeler(stack).await?;
    let distributed = show_fordeling(stack, &leder, &document).await?;
    let recorded = show_in_edoc(stack, &leder, &id, &document).await?;

    super::demo::step(
        first_step + 1,
        "A decision: the letter goes out as MeMo 1.2 to KombiPostAfsend (STS token, access token); accepted, then Beskedfordeler's status (pushed over mTLS) confirms it and the appeal deadline starts",
    );
    let (s, decision) = leder
        .send(
            post,
            &format!("/api/v1/cases/{id}/decisions"),
            Some(json!({"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20", "reasoning": "Du har behov for støtte i eget hjem."})),
        )
        .await?;
    println!(
        "   decision: HTTP {s}; appeal deadline now: {}",
        decision["appeal_deadline"]
    );
    let mut view = Value::Null;
    for _ in 0..200 {
        stack.core.reconcile().await?;
        view = leder
            .send(get.clone(), &format!("/api/v1/cases/{id}"), None)
            .await?
            .1;
        if !view["decisions"][0]["appeal_deadline"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = &view["decisions"][0];
    println!(
        "   letter dispatched {}; appeal deadline {}; case status {}",
        d["letter_dispatched_on"], d["appeal_deadline"], view["status"]
    );
    for n in view["notices"].as_array().into_iter().flatten() {
        println!(
            "   the case shows: {}",
            n["text"].as_str().unwrap_or_default()
        );
    }
    let replied = reply_by_digital_post(stack, &leder, first_step + 2, &id).await?;
    let medcom = super::demo_medcom::run(stack, first_step + 3, &id).await?;
    Ok(s2 == 201
        && indexed
        && pubsub
        && distributed
        && recorded
        && found.as_array().is_some_and(Vec::is_empty)
        && s3 == 403
        && !d["appeal_deadline"].is_null()
        && replied
        && medcom)
}

/// The case is journalised in eDoc through KKI: its ESDH case number and responsible
/// person come back onto it; a document checked out in eDoc is read-only here.
async fn show_in_edoc(
    stack: &Stack,
    leder: &Caseworker<'_>,
    case: &str,
    document: &str,
) -> anyhow::Result<bool> {
    let mut view = Value::Null;
    for _ in 0..200 {
        stack.core.reconcile().await?;
        view = leder
            .send(reqwest::Method::GET, &format!("/api/v1/cases/{case}"), None)
            .await?
            .1;
        if view["records"]["state"] == "journalised" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let edoc = &stack.sandbox.edoc;
    let held = edoc.sag(case);
    println!(
        "   eDoc (through KKI): case {} journalised, responsible {}; eDoc holds {} document(s), KLE {}",
        view["records"]["case_number"],
        view["records"]["responsible"],
        held.as_ref()
            .map(|s| s.dokumenter.len())
            .unwrap_or_default(),
        held.as_ref().map(|s| s.sag.kle.as_str()).unwrap_or("-")
    );
    let jens = knudepunkt_adapters::edoc::model::Bruger {
        bruger_id: "JDOE".into(),
        navn: "Jens Doe".into(),
    };
    edoc.check_out(case, document, jens.clone())
        .map_err(anyhow::Error::msg)?;
    for _ in 0..200 {
        let (_, v) = leder
            .send(reqwest::Method::GET, &format!("/api/v1/cases/{case}"), None)
            .await?;
        let shown = v["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["id"] == document && !d["checked_out"].is_null());
        if shown {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = leder
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/documents/{document}"),
            Some(json!({"confidential": false})),
        )
        .await?;
    println!(
        "   checked out in eDoc by Jens Doe: a change here is refused, HTTP {}: {}",
        refused.0, refused.1["detail"]
    );
    edoc.check_in(case, document, jens)
        .map_err(anyhow::Error::msg)?;
    Ok(view["records"]["state"] == "journalised" && refused.0 == 409)
}

/// The case and its document reach STS Sags- og dokumentindeks; SAPA's search finds them
/// for a user with the handicap unit's role, not for one of Borgercenter Voksne.
async fn show_in_sapa(stack: &Stack, case: &str) -> anyhow::Result<bool> {
    use knudepunkt_adapters::sagdokindeks::simulator::Role;
    let index = &stack.sandbox.sagdokindeks;
    for _ in 0..200 {
        if index.case(case).is_some_and(|c| {
            !c.journal.is_empty() && c.journal.keys().all(|d| index.document(d).is_some())
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let roles = |user: &str| {
        let core = stack.core.clone();
        let user = user.to_string();
        async move {
            anyhow::Ok(
                core.actor(&user)
                    .await?
                    .map(|a| {
                        a.roles
                            .into_iter()
                            .map(|r| Role {
                                org_unit_id: r.org_unit_id,
                                kle: r.kle,
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            )
        }
    };
    let mine = index.search("0101901234", &roles("leder1").await?);
    let theirs = index.search("0101901234", &roles("aktoer2").await?);
    println!(
        "   STS Sags- og dokumentindeks has the case (importer, whole) and its document; SAPA's search by CPR finds {} case(s) and {} document(s) for Borgercenter Handicap, {} for Borgercenter Voksne; the hop: {}",
        mine.cases.len(),
        mine.documents.len(),
        theirs.cases.len() + theirs.documents.len(),
        mine.cases
            .first()
            .and_then(|c| c.link.clone())
            .unwrap_or_else(|| "-".into())
    );
    Ok(mine.cases.len() == 1 && mine.documents.len() == 1 && theirs.cases.is_empty())
}

/// The Fordelingskomponent: the document goes to Frederiksberg's social services, routed
/// by the case's KLE emne, and the receiving system's receipt settles it.
async fn show_fordeling(
    stack: &Stack,
    leder: &Caseworker<'_>,
    document: &str,
) -> anyhow::Result<bool> {
    if stack.engine.routes().get("fordeling.dokument").is_none() {
        println!("   (the Fordelingskomponent is off: no SFTP server)");
        return Ok(true);
    }
    let (s, sent) = leder
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/documents/{document}/distribution"),
            Some(json!({"to_cvr": "11259979", "dokumenttype": "Brev"})),
        )
        .await?;
    let Some(message) = sent["message_id"]
        .as_str()
        .and_then(|m| m.parse::<knudepunkt_engine::MessageId>().ok())
    else {
        println!("   sending the document to Frederiksberg: HTTP {s}: {sent}");
        return Ok(false);
    };
    let mut state = knudepunkt_engine::message::MessageState::Pending;
    for _ in 0..200 {
        state = stack.engine.journal().get(message).await?.state;
        if state.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let taken = sent["id"]
        .as_str()
        .and_then(|id| stack.sandbox.fordeling.sent(id));
    println!(
        "   the document to Frederiksberg Kommune through the Fordelingskomponent (SF2900): HTTP {s}; its file on the SFTP server: {}; routed by KLE to {}; the receiving system's receipt {}: the delivery is {state}",
        taken
            .as_ref()
            .map(|t| if t.fil_sha256.is_some() {
                "found"
            } else {
                "not checked"
            })
            .unwrap_or("-"),
        taken
            .as_ref()
            .and_then(|t| stack
                .sandbox
                .fordeling
                .receivers()
                .into_iter()
                .find(|r| r.uuid == t.system))
            .map(|r| r.navn)
            .unwrap_or_else(|| "-".into()),
        taken
            .and_then(|t| t.kvitteringer.last().map(|k| k.as_str()))
            .unwrap_or("-"),
    );
    Ok(state == knudepunkt_engine::message::MessageState::Delivered)
}

/// Beskedfordeler, when a broker is there: the case's events went out as
/// Haendelsesbeskeder, and a CPR change placed in the dueslag refreshes the citizen.
async fn show_beskedfordeler(stack: &Stack) -> anyhow::Result<bool> {
    use knudepunkt_adapters::beskedfordeler as bf;
    let engine = &stack.engine;
    if engine.routes().get("beskedfordeler.cpr").is_none() {
        println!("   (Beskedfordeler is off: no RabbitMQ)");
        return Ok(true);
    }
    let Some((_, dueslag)) = bf::dueslag_of(&engine.routes().environment) else {
        return Ok(true);
    };
    let change = format!(
        r#"<b:Haendelsesbesked xmlns:b="urn:oio:besked:kuvert:1.0" xmlns="urn:oio:sagdok:3.0.0"><b:BeskedId><UUIDIdentifikator>{}</UUIDIdentifikator></b:BeskedId><b:BeskedVersion>1.0</b:BeskedVersion><b:Beskedkuvert><b:Filtreringsdata><b:Beskedtype><UUIDIdentifikator>{}</UUIDIdentifikator></b:Beskedtype><b:RelateretObjekt><b:ObjektId><URNIdentifikator>urn:oio:cpr-nr:0101901234</URNIdentifikator></b:ObjektId><b:ObjektType><UUIDIdentifikator>ce7fcf97-a8a2-447a-8690-d38aa0f6e23c</UUIDIdentifikator></b:ObjektType></b:RelateretObjekt></b:Filtreringsdata><b:Leveranceinformation/></b:Beskedkuvert><b:Beskeddata><cpr:PersonAendret xmlns:cpr="urn:knudepunkt:cpr:haendelse:1"><cpr:Adresse>Nyvej 2, 2300 København S</cpr:Adresse></cpr:PersonAendret></b:Beskeddata></b:Haendelsesbesked>"#,
        uuid::Uuid::new_v4(),
        engine
            .routes()
            .matched_values(bf::RECEIVED_EVENT, "beskedtype")
            .first()
            .map(|(t, _)| t.clone())
            .unwrap_or_default()
    );
    stack
        .sandbox
        .beskedfordeler
        .put_in_dueslag(&dueslag, change.as_bytes())
        .await
        .map_err(anyhow::Error::msg)?;
    let mut refreshed = false;
    for _ in 0..200 {
        let done = engine
            .journal()
            .count_by_state(Some("beskedfordeler.cpr"))
            .await?;
        if done
            .iter()
            .any(|(s, n)| *s == knudepunkt_engine::message::MessageState::Delivered && *n == 1)
        {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let published: i64 = engine
        .journal()
        .count_by_state(Some("beskedfordeler.haendelse"))
        .await?
        .iter()
        .filter(|(s, _)| *s == knudepunkt_engine::message::MessageState::Delivered)
        .map(|(_, n)| n)
        .sum();
    let stats = stack.sandbox.beskedfordeler.recorder.stats();
    println!(
        "   Beskedfordeler (RabbitMQ): {published} of the case's events published as Haendelsesbeskeder, {} taken by the distributor ({} failed Beskedkuvert.xsd); a CPR change in the dueslag refreshed the citizen's address: {refreshed}",
        stats.unique, stats.invalid
    );
    Ok(refreshed && stats.invalid == 0)
}

/// The citizen answers the letter by Digital Post; the Afhentningssystem's system-fetch
/// collects the reply from the municipality's mailbox and it lands on the case.
async fn reply_by_digital_post(
    stack: &Stack,
    leder: &Caseworker<'_>,
    step: u32,
    case_id: &str,
) -> anyhow::Result<bool> {
    use knudepunkt_adapters::digital_post::{afhentning::Afhentning, memo};
    super::demo::step(
        step,
        "The citizen answers by Digital Post: the system-fetch (Afhentningssystem) collects the reply from the municipality's mailbox, and it is journalised on the case",
    );
    let letter = stack
        .engine
        .journal()
        .list(&knudepunkt_engine::journal::ListFilter {
            route: Some("digitalpost.letter".into()),
            state: None,
            correlation_id: Some(case_id.to_string()),
            limit: 1,
        })
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no letter was sent for case {case_id}"))?;
    let reply = memo::reply_to(
        letter.idempotency_key.as_str(),
        case_id,
        "0101901234",
        "Anna Jensen",
        "64942212",
        "Tak for afgørelsen. Kan støtten begynde i januar?",
    );
    stack
        .sandbox
        .mailbox
        .deliver(reply.as_bytes())
        .map_err(|why| anyhow::anyhow!("the sandbox mailbox refused the reply: {why}"))?;
    let afhentning = Afhentning::new(stack.engine.clone())?;
    let quiet = knudepunkt_engine::schedule::Quiet;
    let first = afhentning.system_fetch(&quiet).await?;
    println!(
        "   system-fetch: {} memo(s) listed, {} taken, {} acknowledged",
        first.listed, first.taken, first.acknowledged
    );
    let mut document = None;
    for _ in 0..200 {
        let (_, view) = leder
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/cases/{case_id}"),
                None,
            )
            .await?;
        document = view["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["doc_type"] == "Indgående post")
            .cloned();
        if document.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match &document {
        Some(d) => println!(
            "   on the case: document {:?} ({})",
            d["title"].as_str().unwrap_or_default(),
            d["doc_type"].as_str().unwrap_or_default()
        ),
        None => println!("   the reply did not reach the case"),
    }
    let again = afhentning.system_fetch(&quiet).await?;
    println!(
        "   a second system-fetch finds {} memo(s) waiting: the reply is taken once",
        again.listed
    );
    Ok(first.taken == 1 && document.is_some() && again.listed == 0)
}
