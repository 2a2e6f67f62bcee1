//! The outbox relay's bookkeeping in the journal, on both backends: a message counts as
//! handed to the broker only once its confirm arrives; a round holds what it took, so
//! that another round passes it over until it is marked, and no row stays locked while
//! the broker confirms.

mod common;

use common::{Backend, fresh_database};
use knudepunkt_engine::journal::{Handed, RELAY_HOLD_MS, RelayScope, Relayable, Taken};
use knudepunkt_engine::message::now_ms;
use knudepunkt_engine::{Journal, MessageId};
use serde_json::json;
use sqlx::Row;

/// A journal with `n` messages on test.bulk, submitted through the outbox.
async fn journal_with(backend: Backend, name: &str, n: usize) -> Journal {
    let db = fresh_database(backend, name).await;
    let journal = Journal::open(&db).await.unwrap();
    // Nothing is delivered here: the receiver's address is never called.
    let engine = common::submitter(&journal, "127.0.0.1:9".parse().unwrap());
    let events: Vec<_> = (0..n)
        .map(|k| json!({"id": format!("{name}-{k}"), "text": "Bevilling af hjælpemiddel"}))
        .collect();
    let mut tx = journal.begin().await.unwrap();
    engine
        .submit_many(&mut tx, "test.bulk", &events)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    journal
}

/// A relay round at `now` whose broker confirms what `confirm` picks, not yet marked;
/// how many it took, and what it handed over.
async fn round(
    journal: &Journal,
    now: i64,
    mut confirm: impl FnMut(&[Relayable]) -> Vec<MessageId>,
) -> (usize, Handed) {
    let taken = take(journal, now).await;
    let handed = Handed {
        confirmed: confirm(&taken.messages),
        hold: taken.hold,
    };
    (taken.messages.len(), handed)
}

/// What a relay round at `now` takes.
async fn take(journal: &Journal, now: i64) -> Taken {
    journal
        .take_for_relay(RelayScope::Due, 100, now, &[])
        .await
        .unwrap()
}

/// A relay round at `now` whose broker confirms everything, marked at once; how many
/// it took.
async fn marked_round(journal: &Journal, now: i64) -> usize {
    let (taken, handed) = round(journal, now, |b| b.iter().map(|m| m.id).collect()).await;
    journal.mark_handed_over(&handed, now).await.unwrap();
    taken
}

async fn relayed_at(journal: &Journal, id: MessageId) -> Option<i64> {
    sqlx::query("SELECT relayed_at FROM messages WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(journal.pool())
        .await
        .unwrap()
        .try_get("relayed_at")
        .unwrap()
}

async fn only_confirmed_messages_count_as_handed_over(backend: Backend) {
    let journal = journal_with(backend, "relay_confirm", 3).await;
    let now = now_ms();
    let mut unconfirmed = None;
    let (taken, handed) = round(&journal, now, |batch| {
        batch[..2].iter().map(|m| m.id).collect()
    })
    .await;
    assert_eq!(taken, 3);
    assert_eq!(handed.confirmed.len(), 2);
    // Confirmed, but not yet marked: held all the same, and not handed over yet.
    for id in &handed.confirmed {
        assert_eq!(relayed_at(&journal, *id).await, None);
    }
    assert_eq!(marked_round(&journal, now + 1).await, 0);
    journal.mark_handed_over(&handed, now + 2).await.unwrap();
    for id in &handed.confirmed {
        assert_eq!(relayed_at(&journal, *id).await, Some(now + 2));
    }
    // The third was taken but not confirmed: it is held, and another round (this
    // instance's or another's) passes it over until the hold runs out.
    assert_eq!(marked_round(&journal, now + 3).await, 0);
    let (taken_again, again) = round(&journal, now + RELAY_HOLD_MS + 1, |batch| {
        assert_eq!(batch.len(), 1, "only the unconfirmed one comes again");
        unconfirmed = Some(batch[0].id);
        vec![batch[0].id]
    })
    .await;
    assert_eq!(taken_again, 1);
    let third = unconfirmed.expect("the unconfirmed message was taken again");
    assert_eq!(relayed_at(&journal, third).await, None);
    journal
        .mark_handed_over(&again, now + RELAY_HOLD_MS + 2)
        .await
        .unwrap();
    assert!(relayed_at(&journal, third).await.is_some());
    // Everything is handed over now: no round takes anything, holds or not.
    assert_eq!(marked_round(&journal, now + 2 * RELAY_HOLD_MS).await, 0);
}

/// A confirmed round the relay never marked (its instance stopped before the mark) is
/// taken again once its hold runs out: sent twice, never lost.
async fn an_unmarked_round_is_taken_again_after_its_hold(backend: Backend) {
    let journal = journal_with(backend, "relay_unmarked", 2).await;
    let now = now_ms();
    let (_, handed) = round(&journal, now, |b| b.iter().map(|m| m.id).collect()).await;
    assert_eq!(handed.confirmed.len(), 2);
    assert_eq!(marked_round(&journal, now + RELAY_HOLD_MS - 1).await, 0);
    assert_eq!(marked_round(&journal, now + RELAY_HOLD_MS + 1).await, 2);
    // The first round's late mark finds its hold gone: the later round's mark stands.
    journal.mark_handed_over(&handed, now + 5).await.unwrap();
    for id in &handed.confirmed {
        assert_eq!(
            relayed_at(&journal, *id).await,
            Some(now + RELAY_HOLD_MS + 1)
        );
    }
}

async fn a_broker_error_releases_the_hold(backend: Backend) {
    let journal = journal_with(backend, "relay_error", 2).await;
    let now = now_ms();
    let taken = take(&journal, now).await;
    assert_eq!(taken.messages.len(), 2);
    // The connection closed before the confirms came: the round lets go of its holds.
    let ids: Vec<MessageId> = taken.messages.iter().map(|m| m.id).collect();
    journal.release_holds(&ids, taken.hold).await.unwrap();
    // The next session does not wait for the hold to run out.
    assert_eq!(marked_round(&journal, now + 1).await, 2);
}

async fn a_claim_before_the_confirm_is_neither_blocked_nor_marked(backend: Backend) {
    let journal = journal_with(backend, "relay_claim", 2).await;
    let now = now_ms();
    let taken = take(&journal, now).await;
    assert_eq!(taken.messages.len(), 2);
    // The broker delivered the first before its confirm reached the relay: the worker's
    // claim goes through at once (no row is locked meanwhile; on PostgreSQL a held lock
    // would make this wait forever).
    let claimed = journal
        .claim_ids(&[(taken.messages[0].id, false)], 30_000, now_ms(), "worker")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let handed = Handed {
        confirmed: taken.messages.iter().map(|m| m.id).collect(),
        hold: taken.hold,
    };
    journal.mark_handed_over(&handed, now_ms()).await.unwrap();
    // The claimed one is the worker's: the confirm that came after its claim does not
    // mark it handed over (its outcome decides what comes next); the other is marked.
    let rows = sqlx::query("SELECT id, relayed_at, relay_until, state FROM messages ORDER BY id")
        .fetch_all(journal.pool())
        .await
        .unwrap();
    for r in rows {
        let id: String = r.try_get("id").unwrap();
        let relayed: Option<i64> = r.try_get("relayed_at").unwrap();
        let hold: Option<i64> = r.try_get("relay_until").unwrap();
        let state: String = r.try_get("state").unwrap();
        assert_eq!(hold, None, "{id}: no hold is left behind");
        if id == claimed[0].id.to_string() {
            assert_eq!(state, "in_flight");
            assert_eq!(relayed, None, "{id}: claimed before its confirm");
        } else {
            assert_eq!(state, "pending");
            assert!(relayed.is_some(), "{id}: confirmed and not claimed");
        }
    }
}

/// A relay going on from where its last round ended takes only what is due from there;
/// a round from the beginning finds a message due earlier (committed late).
async fn a_round_from_a_due_time_leaves_earlier_messages_to_a_round_from_the_start(
    backend: Backend,
) {
    let journal = journal_with(backend, "relay_from", 3).await;
    let now = now_ms();
    let ids: Vec<String> = sqlx::query("SELECT id FROM messages ORDER BY id")
        .fetch_all(journal.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("id").unwrap())
        .collect();
    for (k, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE messages SET due_at = $1 WHERE id = $2")
            .bind(now - 3_000 + 1_000 * k as i64)
            .bind(id)
            .execute(journal.pool())
            .await
            .unwrap();
    }
    let later = journal
        .take_for_relay(
            RelayScope::DueFrom {
                due_at: now - 2_000,
            },
            100,
            now,
            &[],
        )
        .await
        .unwrap();
    let taken: Vec<String> = later.messages.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(taken, ids[1..].to_vec());
    assert_eq!(later.last_due, Some(now - 1_000));
    let earlier = take(&journal, now).await;
    assert_eq!(earlier.messages.len(), 1);
    assert_eq!(earlier.messages[0].id.to_string(), ids[0]);
    assert_eq!(earlier.last_due, Some(now - 3_000));
}

/// On PostgreSQL a round's holds are written beside their rows: each message's page
/// has room for its next version, so the hold (no indexed column changes) touches no
/// index. The page of each row is the block number of its `ctid`.
async fn holds_stay_on_their_rows_pages(journal: &Journal) {
    let pages = || async {
        let rows = sqlx::query("SELECT id, (ctid::text::point)[0]::bigint AS page FROM messages")
            .fetch_all(journal.pool())
            .await
            .unwrap();
        rows.iter()
            .map(|r| (r.get::<String, _>("id"), r.get::<i64, _>("page")))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let before = pages().await;
    assert_eq!(before.len(), 60);
    assert_eq!(take(journal, now_ms()).await.messages.len(), 60);
    let after = pages().await;
    let moved = before
        .iter()
        .filter(|(id, page)| after[*id] != **page)
        .count();
    assert_eq!(moved, 0, "{moved} of 60 holds were written on another page");
    let options: Vec<String> =
        sqlx::query("SELECT unnest(reloptions) AS o FROM pg_class WHERE relname = 'messages'")
            .fetch_all(journal.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("o"))
            .collect();
    assert_eq!(options, ["fillfactor=50"]);
}

#[tokio::test]
async fn relay_on_sqlite() {
    only_confirmed_messages_count_as_handed_over(Backend::Sqlite).await;
    a_broker_error_releases_the_hold(Backend::Sqlite).await;
    a_claim_before_the_confirm_is_neither_blocked_nor_marked(Backend::Sqlite).await;
    an_unmarked_round_is_taken_again_after_its_hold(Backend::Sqlite).await;
    a_round_from_a_due_time_leaves_earlier_messages_to_a_round_from_the_start(Backend::Sqlite)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_on_postgres() {
    only_confirmed_messages_count_as_handed_over(Backend::Postgres).await;
    a_broker_error_releases_the_hold(Backend::Postgres).await;
    a_claim_before_the_confirm_is_neither_blocked_nor_marked(Backend::Postgres).await;
    an_unmarked_round_is_taken_again_after_its_hold(Backend::Postgres).await;
    a_round_from_a_due_time_leaves_earlier_messages_to_a_round_from_the_start(Backend::Postgres)
        .await;
    holds_stay_on_their_rows_pages(&journal_with(Backend::Postgres, "relay-pages", 60).await).await;
}
