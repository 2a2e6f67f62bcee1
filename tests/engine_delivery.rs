//! The engine's guarantees end to end, on SQLite and on PostgreSQL: redelivery with
//! backoff, dead letters and replay, integrity checks, the outbox and the idempotent
//! consumer, and workers that never deliver one message twice at once.

mod common;

use std::time::Duration;

use common::{Backend, cli, engine, fresh_database, repo, start_sandbox, wait_state};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::{EngineError, Inbound, Outbound, Submitted};
use serde_json::json;
use sqlx::Row;

fn status_fault(status: u16, count: u32) -> Fault {
    Fault {
        kind: FaultKind::Status {
            status,
            retry_after: None,
        },
        count,
    }
}

/// One 503 that asks for the next attempt in a second: the message waits, retrying.
fn one_503_retry_after_a_second() -> Fault {
    Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: Some(1),
        },
        count: 1,
    }
}

async fn redelivery_follows_backoff(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "redelivery").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    sandbox.handles.generic.faults.push(status_fault(503, 5));

    let ev = json!({"id": "r-1", "case_id": "SAG-1", "text": "hej"});
    let id = common::submit(&engine, "test.notify", ev.clone()).await;
    let state = wait_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(state, MessageState::Delivered);
    let msg = engine.journal().get(id).await.unwrap();
    assert_eq!(msg.attempts, 6, "five 503s and one success");

    let history = engine.journal().history(id).await.unwrap();
    let attempts: Vec<i64> = history
        .iter()
        .filter(|t| t.to_state == MessageState::InFlight)
        .map(|t| t.at)
        .collect();
    assert_eq!(attempts.len(), 6, "{history:?}");
    let retrying = history
        .iter()
        .filter(|t| t.to_state == MessageState::Retrying)
        .count();
    assert_eq!(retrying, 5);
    let route = engine.routes().get("test.notify").unwrap();
    for (k, pair) in attempts.windows(2).enumerate() {
        let gap = Duration::from_millis((pair[1] - pair[0]) as u64);
        let (lo, hi) = route.redelivery.delay_bounds(k as u32 + 1);
        println!(
            "wait after attempt {}: {gap:?} (allowed {lo:?}..{hi:?} + scheduling)",
            k + 1
        );
        assert!(
            gap >= lo,
            "attempt {} came after {gap:?}, before the backoff's lower bound {lo:?}",
            k + 2
        );
        assert!(
            gap <= hi + Duration::from_millis(150),
            "attempt {} came after {gap:?}, later than {hi:?} + 150 ms",
            k + 2
        );
    }
    let stats = sandbox.handles.generic.recorder.stats();
    assert_eq!((stats.raw_requests, stats.faulted, stats.unique), (6, 5, 1));
    engine.shutdown(workers).await;
}

async fn permanent_error_goes_dead_and_replays_once(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "dead").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    sandbox.handles.generic.faults.push(status_fault(400, 1));

    let ev = json!({"id": "d-1", "case_id": "SAG-77", "text": "afvises"});
    let id = common::submit(&engine, "test.notify", ev.clone()).await;
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let msg = engine.journal().get(id).await.unwrap();
    assert_eq!(msg.attempts, 1, "a permanent error is not retried");
    assert_eq!(msg.last_error_kind.as_deref(), Some("permanent"));
    assert!(
        msg.last_error.as_deref().unwrap().contains("answered 400"),
        "{:?}",
        msg.last_error
    );

    // The initiator is told.
    let notes = engine.journal().open_notifications(10).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].message_id, id);
    assert_eq!(notes[0].correlation_id.as_deref(), Some("SAG-77"));

    // The operator sees it in the DLQ and replays it with the CLI.
    let (ok, out, err) = cli(&["--json", "dlq", "list"], &db, &repo());
    assert!(ok, "{err}");
    assert!(out.contains(&id.to_string()), "{out}");
    let (ok, _, err) = cli(
        &["dlq", "replay", &id.to_string(), "--by", "test"],
        &db,
        &repo(),
    );
    assert!(ok, "{err}");
    engine.wake();
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let stats = sandbox.handles.generic.recorder.stats();
    assert_eq!(
        (stats.raw_requests, stats.unique, stats.duplicates),
        (2, 1, 0),
        "delivered once after replay"
    );
    let history = engine.journal().history(id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|t| t.detail.as_deref() == Some("replayed by test"))
    );

    // Reading a message on the command line says why, and is audited.
    let (ok, _, err) = cli(&["messages", "show", &id.to_string()], &db, &repo());
    assert!(!ok && err.contains("--why"), "{err}");
    let (ok, out, err) = cli(
        &[
            "messages",
            "show",
            &id.to_string(),
            "--why",
            "ticket 4711",
            "--by",
            "ops-1",
        ],
        &db,
        &repo(),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("replayed by test") && out.contains("SAG-77"),
        "{out}"
    );
    let reads = engine.journal().reads_of(id).await.unwrap();
    assert_eq!(
        (
            reads[0].reader.as_str(),
            reads[0].channel.as_str(),
            reads[0].purpose.as_str()
        ),
        ("ops-1", "cli", "ticket 4711")
    );

    // A dead message whose payload was altered is refused on replay, and stays dead.
    sandbox.handles.generic.faults.push(status_fault(400, 1));
    let ev = json!({"id": "d-2", "text": "ændres"});
    let id2 = common::submit(&engine, "test.notify", ev.clone()).await;
    wait_state(
        engine.journal(),
        id2,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    common::tamper(&engine, id2, b"<Notification>tampered</Notification>").await;
    let (ok, _, err) = cli(&["dlq", "replay", &id2.to_string()], &db, &repo());
    assert!(!ok, "a tampered replay must fail");
    assert!(
        err.contains("checksum mismatch") && err.contains(&id2.to_string()),
        "{err}"
    );
    assert_eq!(
        engine.journal().get(id2).await.unwrap().state,
        MessageState::Dead
    );

    // Discard takes it out for good, with a reason.
    let (ok, _, err) = cli(
        &[
            "dlq",
            "discard",
            &id2.to_string(),
            "--reason",
            "altered in the journal",
        ],
        &db,
        &repo(),
    );
    assert!(ok, "{err}");
    assert_eq!(
        engine.journal().get(id2).await.unwrap().state,
        MessageState::Discarded
    );
    engine.shutdown(workers).await;
}

/// Submits `event` on test.notify, lets its first attempt fail (503, Retry-After 1 s),
/// alters its payload to `altered` while it waits, and checks it goes dead for its
/// checksum on the next attempt, without being sent.
async fn altered_while_it_waits(
    engine: &knudepunkt_engine::Engine,
    sandbox: &common::Sandbox,
    event: serde_json::Value,
    altered: &[u8],
) {
    let sent_before = sandbox.handles.generic.recorder.stats().unique;
    sandbox
        .handles
        .generic
        .faults
        .push(one_503_retry_after_a_second());
    let id = common::submit(engine, "test.notify", event).await;
    wait_state(
        engine.journal(),
        id,
        MessageState::Retrying,
        Duration::from_secs(5),
    )
    .await;
    common::tamper(engine, id, altered).await;
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let msg = engine.journal().get(id).await.unwrap();
    assert_eq!(msg.last_error_kind.as_deref(), Some("integrity"));
    assert!(msg.last_error.unwrap().contains("checksum mismatch"));
    assert_eq!(
        sandbox.handles.generic.recorder.stats().unique,
        sent_before,
        "the altered payload never left"
    );
}

async fn tampered_payload_is_never_sent(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "tamper").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    let event = json!({"id": "t-1", "text": "original"});
    altered_while_it_waits(&engine, &sandbox, event, b"<x>altered</x>").await;
    engine.shutdown(workers).await;
}

/// A payload too large for SQLite to keep in its message's row (it is kept apart) is
/// delivered whole, read back whole, and still checked against its checksum.
async fn a_large_payload_is_delivered_whole_and_checked(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "large").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    let text = "æøå 0123456789 ".repeat(6_000);
    let id = common::submit(&engine, "test.notify", json!({"id": "big-1", "text": text})).await;
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let stored = engine.journal().get(id).await.unwrap();
    assert!(stored.payload_size > 100_000, "{}", stored.payload_size);
    let received = sandbox.handles.generic.recorder.received(1);
    assert_eq!(received[0].body.as_bytes(), stored.payload.as_slice());
    assert!(received[0].body.contains(&text));
    // SQLite keeps it apart, so that a change of state does not rewrite it.
    let in_row: i64 = sqlx::query("SELECT length(payload) AS n FROM messages WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(engine.journal().pool())
        .await
        .unwrap()
        .get("n");
    let expected = match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => stored.payload_size as i64,
    };
    assert_eq!(in_row, expected);
    // In a file of its own beside the journal, written once; the row keeps its size.
    let kept: Option<i64> = sqlx::query("SELECT payload_size FROM messages WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(engine.journal().pool())
        .await
        .unwrap()
        .get("payload_size");
    match (backend, engine.journal().payload_files()) {
        (Backend::Sqlite, Some(files)) => {
            assert_eq!(std::fs::read(files.path_of(id)).unwrap(), stored.payload);
            assert_eq!(kept, Some(stored.payload_size as i64));
        }
        (Backend::Postgres, None) => assert_eq!(kept, None),
        (backend, files) => panic!("{backend:?} with payload files {files:?}"),
    }

    // Altered while it waits for its next attempt: never sent.
    let event = json!({"id": "big-2", "text": text});
    altered_while_it_waits(&engine, &sandbox, event, text.replace('æ', "e").as_bytes()).await;
    engine.shutdown(workers).await;
}

async fn outbox_follows_the_callers_transaction(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "outbox").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    sqlx::query("CREATE TABLE grants (id TEXT PRIMARY KEY, service TEXT NOT NULL)")
        .execute(engine.journal().pool())
        .await
        .unwrap();

    // Rolled back: neither the grant nor its message exists.
    let mut tx = engine.journal().begin().await.unwrap();
    sqlx::query("INSERT INTO grants (id, service) VALUES ('g-1', 'ledsagelse')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let ev = json!({"id": "o-1", "case_id": "SAG-5", "text": "bevilget"});
    let rolled = engine
        .submit(
            &mut tx,
            Outbound {
                route: "test.notify",
                event: &ev,
            },
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(engine.journal().get(rolled.id().unwrap()).await.is_err());

    // Committed: both, and the message is delivered once.
    let mut tx = engine.journal().begin().await.unwrap();
    sqlx::query("INSERT INTO grants (id, service) VALUES ('g-1', 'ledsagelse')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let committed = engine
        .submit(
            &mut tx,
            Outbound {
                route: "test.notify",
                event: &ev,
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    engine.wake();
    let id = committed.id().unwrap();
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM grants")
        .fetch_one(engine.journal().pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(n, 1);

    // The same idempotency key again is a duplicate, not a second message.
    let again = engine
        .submit_now(Outbound {
            route: "test.notify",
            event: &ev,
        })
        .await
        .unwrap();
    assert_eq!(again, Submitted::Duplicate(id));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = sandbox.handles.generic.recorder.stats();
    assert_eq!((stats.accepted, stats.unique), (1, 1));
    engine.shutdown(workers).await;
}

async fn inbound_is_taken_once_and_checked(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "inbound").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    let payload = b"<Besked>Kvittering for modtagelse</Besked>";
    let sha = knudepunkt_engine::Sha256Digest::of(payload).to_hex();
    let inbound = |id: &'static str, sha: Option<&'static str>, size: Option<usize>| Inbound {
        route: "test.inbound",
        external_id: id,
        payload,
        content_type: "application/xml",
        correlation_id: Some("SAG-9"),
        declared_size: size,
        declared_sha256: sha,
    };
    let sha: &'static str = Box::leak(sha.into_boxed_str());
    let first = engine
        .accept_inbound(inbound("BF-1", Some(sha), Some(payload.len())))
        .await
        .unwrap();
    let Submitted::Journaled(id) = first else {
        panic!("{first:?}")
    };
    let second = engine
        .accept_inbound(inbound("BF-1", Some(sha), None))
        .await
        .unwrap();
    assert_eq!(second, Submitted::Duplicate(id));

    let wrong = "0".repeat(64);
    let wrong: &'static str = Box::leak(wrong.into_boxed_str());
    let err = engine
        .accept_inbound(inbound("BF-2", Some(wrong), None))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Integrity { .. }));
    assert!(
        err.to_string().contains("BF-2") && err.to_string().contains("checksum mismatch"),
        "{err}"
    );
    let err = engine
        .accept_inbound(inbound("BF-3", None, Some(3)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("BF-3") && err.to_string().contains("declared 3 bytes"),
        "{err}"
    );
    assert_eq!(
        engine
            .journal()
            .count_by_state(Some("test.inbound"))
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum::<i64>(),
        1,
        "refused messages leave nothing behind"
    );
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(sandbox.handles.generic.recorder.stats().unique, 1);
    engine.shutdown(workers).await;
}

async fn two_engines_never_deliver_one_message_twice(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "twoengines").await;
    let a = engine(&db, &sandbox).await;
    let b = engine(&db, &sandbox).await;
    sandbox.handles.generic.faults.push(Fault {
        kind: FaultKind::Latency { ms: 2 },
        count: 100_000,
    });
    let (wa, wb) = (a.start(), b.start());
    let total = 600;
    for chunk in 0..(total / 100) {
        let mut tx = a.journal().begin().await.unwrap();
        for k in 0..100 {
            let ev = json!({"id": format!("c-{}", chunk * 100 + k)});
            a.submit(
                &mut tx,
                Outbound {
                    route: "test.bulk",
                    event: &ev,
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        a.wake();
        b.wake();
    }
    let counts = common::wait_all_delivered(
        a.journal(),
        "test.bulk",
        total as i64,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(counts, vec![(MessageState::Delivered, total as i64)]);
    let stats = sandbox.handles.generic.recorder.stats();
    assert_eq!(stats.unique, total as u64);
    assert_eq!(stats.duplicates, 0, "no message was sent by both engines");
    a.shutdown(wa).await;
    b.shutdown(wb).await;
}

async fn submit_many_journals_a_batch_once(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "many").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    let before = engine
        .submit_now(Outbound {
            route: "test.bulk",
            event: &json!({"id": "b-0"}),
        })
        .await
        .unwrap();
    let mut events: Vec<serde_json::Value> =
        (0..300).map(|k| json!({"id": format!("b-{k}")})).collect();
    events.push(json!({"id": "b-7"})); // the same key twice in one batch
    let mut tx = engine.journal().begin().await.unwrap();
    let outcomes = engine
        .submit_many(&mut tx, "test.bulk", &events)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    engine.wake();
    assert_eq!(outcomes.len(), 301);
    assert_eq!(
        outcomes[0],
        Submitted::Duplicate(before.id().unwrap()),
        "already journaled before the batch"
    );
    assert!(matches!(outcomes[7], Submitted::Journaled(_)));
    assert_eq!(
        outcomes[300],
        Submitted::Duplicate(outcomes[7].id().unwrap())
    );
    let journaled = outcomes
        .iter()
        .filter(|o| matches!(o, Submitted::Journaled(_)))
        .count();
    assert_eq!(journaled, 299);
    let counts =
        common::wait_all_delivered(engine.journal(), "test.bulk", 300, Duration::from_secs(30))
            .await;
    assert_eq!(
        counts,
        vec![(MessageState::Delivered, 300)],
        "batch not delivered"
    );
    let id = outcomes[42].id().unwrap();
    let states: Vec<MessageState> = engine
        .journal()
        .history(id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_state)
        .collect();
    assert_eq!(
        states,
        [
            MessageState::Received,
            MessageState::Pending,
            MessageState::InFlight,
            MessageState::Delivered
        ]
    );
    assert_eq!(sandbox.handles.generic.recorder.stats().unique, 300);
    engine.shutdown(workers).await;
}

/// A claim stops when the payloads it has taken reach the byte budget (but always takes
/// one), so a batch of large letters is not read whole; small ones come by the batch.
async fn claims_stop_at_the_byte_budget(backend: Backend) {
    use knudepunkt_engine::journal::{NewMessage, outbox_insert_many};
    use knudepunkt_engine::{IdempotencyKey, MessageId, Sha256Digest};
    let db = fresh_database(backend, "claim-bytes").await;
    let journal = knudepunkt_engine::Journal::open(&db).await.unwrap();
    let message = |k: usize, size: usize| {
        let payload = vec![b'x'; size];
        NewMessage {
            id: MessageId::new(),
            route: "test.bulk".into(),
            direction: knudepunkt_engine::Direction::Outbound,
            correlation_id: None,
            idempotency_key: IdempotencyKey::new(format!("big-{k}")),
            checksum: Sha256Digest::of(&payload),
            payload,
            content_type: "application/octet-stream".into(),
            external_ids: Default::default(),
            deadline_at: None,
            claim: None,
            origin: None,
            payload_file: None,
        }
    };
    let mut big: Vec<NewMessage> = (0..6).map(|k| message(k, 100_000)).collect();
    let small: Vec<NewMessage> = (6..56).map(|k| message(k, 100)).collect();
    // Every other letter staged in a payload file (on SQLite; the row keeps its size),
    // the others kept in the journal's table: a claim weighs and reads both.
    let mut staged = journal.stage(big.split_off(3)).await.unwrap();
    let on_disk = matches!(backend, Backend::Sqlite).then_some(100_000);
    assert!(staged.iter().all(|m| m.payload_file == on_disk));
    for (k, m) in staged.drain(..).enumerate() {
        big.insert(2 * k + 1, m);
    }
    let now = knudepunkt_engine::message::now_ms();
    let mut tx = journal.begin().await.unwrap();
    outbox_insert_many(&mut tx, &big, now - 10).await.unwrap();
    outbox_insert_many(&mut tx, &small, now).await.unwrap();
    tx.commit().await.unwrap();
    let later = now + 1000;
    // 0, 100 000 and 200 000 bytes before them are under 250 000: three letters.
    let first = journal
        .claim_due(100, 250_000, 60_000, later, &[])
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|c| c.payload.len() == 100_000));
    // A budget smaller than one message still takes one.
    let one = journal.claim_due(100, 1, 60_000, later, &[]).await.unwrap();
    assert_eq!(one.len(), 1);
    // The last two letters (200 000 bytes) and then the small ones, up to the limit.
    let rest = journal
        .claim_due(40, 250_000, 60_000, later, &[])
        .await
        .unwrap();
    assert_eq!(rest.len(), 40);
    assert_eq!(
        rest.iter().filter(|c| c.payload.len() == 100_000).count(),
        2
    );
    let last = journal
        .claim_due(100, 4 * 1024 * 1024, 60_000, later, &[])
        .await
        .unwrap();
    assert_eq!(last.len(), 12, "the remaining small messages in one claim");
}

/// On an ordered route a case's second message waits for its first, even while the
/// first is retried; another case's messages do not wait.
async fn ordered_routes_keep_each_cases_order(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "ordered").await;
    let engine = engine(&db, &sandbox).await;
    assert_eq!(engine.routes().ordered(), vec!["test.ordered".to_string()]);
    let mut ids = Vec::new();
    for (k, event) in [
        "test.ordered.first",
        "test.ordered.next",
        "test.ordered.next",
    ]
    .iter()
    .enumerate()
    {
        let ev = json!({"id": format!("o-{k}"), "case_id": "SAG-A", "text": format!("A{k}")});
        let out = engine
            .submit_now(knudepunkt_engine::Outbound {
                route: "test.ordered",
                event: &ev,
            })
            .await
            .unwrap();
        ids.push(out.id().unwrap());
        // The route takes both of its events.
        assert_eq!(engine.routes().for_event(event).len(), 1);
    }
    sandbox.handles.generic.faults.push(status_fault(503, 2));
    let workers = engine.start();
    for id in &ids {
        common::expect_state(
            engine.journal(),
            *id,
            MessageState::Delivered,
            Duration::from_secs(15),
        )
        .await;
    }
    let first = engine.journal().get(ids[0]).await.unwrap();
    assert_eq!(first.attempts, 3, "two 503s, then accepted");
    let mut texts: Vec<String> = sandbox
        .handles
        .generic
        .recorder
        .received(100)
        .into_iter()
        .filter(|r| !r.duplicate)
        .map(|r| {
            let at = r.body.find("<Text>").unwrap() + 6;
            r.body[at..at + 2].to_string()
        })
        .collect();
    texts.reverse();
    assert_eq!(texts, ["A0", "A1", "A2"], "delivered in journal order");
    for later in &ids[1..] {
        assert_eq!(engine.journal().get(*later).await.unwrap().attempts, 1);
    }

    // Another case goes out while SAG-A's first message is held up.
    sandbox.handles.generic.faults.push(status_fault(503, 3));
    let a = json!({"id": "o-a", "case_id": "SAG-A", "text": "A3"});
    let b = json!({"id": "o-b", "case_id": "SAG-B", "text": "B0"});
    let held = common::submit(&engine, "test.ordered", a).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let other = common::submit(&engine, "test.ordered", b).await;
    common::expect_state(
        engine.journal(),
        other,
        MessageState::Delivered,
        Duration::from_secs(15),
    )
    .await;
    common::expect_state(
        engine.journal(),
        held,
        MessageState::Delivered,
        Duration::from_secs(15),
    )
    .await;
    engine.shutdown(workers).await;
}

/// A receiver that answers a POST with a redirect has not taken the message: the
/// redirect is not followed (followed, the POST became a GET without the body and the
/// GET's 200 counted as delivered), and the message goes dead naming where it pointed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redirect_is_an_answer_not_a_delivery() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let landed = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/generic/receive",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::SEE_OTHER,
                    [(axum::http::header::LOCATION, "/generic/login")],
                )
            }),
        )
        .route(
            "/generic/login",
            axum::routing::get({
                let landed = landed.clone();
                move || async move {
                    landed.fetch_add(1, Ordering::SeqCst);
                    "log ind"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let db = fresh_database(Backend::Sqlite, "redirect").await;
    let engine = common::engine_at(&db, addr).await;
    let workers = engine.start();
    let id = common::submit(
        &engine,
        "test.notify",
        json!({"id": "r-1", "case_id": "SAG-9", "text": "videre"}),
    )
    .await;
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let msg = engine.journal().get(id).await.unwrap();
    let error = msg.last_error.unwrap_or_default();
    assert!(
        error.contains("answered 303 (redirected to /generic/login)"),
        "{error}"
    );
    assert_eq!(
        landed.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    engine.shutdown(workers).await;
}

/// A payload staged for a message that was never journaled (its transaction rolled
/// back, or it was a duplicate) is swept away once it is old enough; a journaled
/// message's stays and is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payload_files_whose_message_never_came_are_swept() {
    let sandbox = start_sandbox().await;
    let db = fresh_database(Backend::Sqlite, "sweep").await;
    let engine = engine(&db, &sandbox).await;
    let files = engine.journal().payload_files().unwrap().clone();
    let text = "x".repeat(100_000);
    let event = |id: &str| json!({"id": id, "text": text});

    let (rolled_back, again) = (event("s-1"), event("s-2"));
    let mut tx = engine.journal().begin().await.unwrap();
    let orphan = engine
        .submit(
            &mut tx,
            Outbound {
                route: "test.notify",
                event: &rolled_back,
            },
        )
        .await
        .unwrap()
        .id()
        .unwrap();
    tx.rollback().await.unwrap();
    let kept = common::submit(&engine, "test.notify", again.clone()).await;
    // The same idempotency key again: its payload is staged, then not journaled.
    let duplicate = engine
        .submit_now(Outbound {
            route: "test.notify",
            event: &again,
        })
        .await
        .unwrap();
    assert_eq!(duplicate, Submitted::Duplicate(kept));
    assert!(files.path_of(orphan).is_file());
    let staged_files = || {
        std::fs::read_dir(files.path_of(kept).parent().unwrap())
            .unwrap()
            .count()
    };
    assert_eq!(staged_files(), 3);

    // Younger than any transaction: left alone.
    assert_eq!(
        engine
            .journal()
            .sweep_payload_files(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        engine
            .journal()
            .sweep_payload_files(Duration::ZERO)
            .await
            .unwrap(),
        2
    );
    assert_eq!(staged_files(), 1);
    assert!(!files.path_of(orphan).exists());
    let workers = engine.start();
    common::expect_state(
        engine.journal(),
        kept,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        engine.journal().get(kept).await.unwrap().payload_size,
        files.read(kept).unwrap().unwrap().len()
    );
    engine.shutdown(workers).await;
}

/// A payload file lost while its message waits for its next attempt: the message is
/// never sent, and its error names the missing file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_payload_file_is_named_and_nothing_is_sent() {
    let sandbox = start_sandbox().await;
    let db = fresh_database(Backend::Sqlite, "lost-file").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    sandbox
        .handles
        .generic
        .faults
        .push(one_503_retry_after_a_second());
    let event = json!({"id": "lost-1", "text": "y".repeat(100_000)});
    let id = common::submit(&engine, "test.notify", event).await;
    wait_state(
        engine.journal(),
        id,
        MessageState::Retrying,
        Duration::from_secs(5),
    )
    .await;
    let file = engine.journal().payload_files().unwrap().path_of(id);
    std::fs::remove_file(&file).unwrap();
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let msg = engine.journal().get(id).await.unwrap();
    assert_eq!(msg.last_error_kind.as_deref(), Some("integrity"));
    let error = msg.last_error.unwrap();
    assert!(
        error.contains(&format!("{} is missing", file.display())),
        "{error}"
    );
    assert_eq!(sandbox.handles.generic.recorder.stats().unique, 0);
    engine.shutdown(workers).await;
}

on_both_backends!(
    ordered_routes_keep_each_cases_order,
    claims_stop_at_the_byte_budget,
    submit_many_journals_a_batch_once,
    redelivery_follows_backoff,
    permanent_error_goes_dead_and_replays_once,
    tampered_payload_is_never_sent,
    a_large_payload_is_delivered_whole_and_checked,
    outbox_follows_the_callers_transaction,
    inbound_is_taken_once_and_checked,
    two_engines_never_deliver_one_message_twice,
);
