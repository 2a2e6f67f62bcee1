//! The scheduler on a real journal, SQLite and PostgreSQL: two engine instances never
//! run the same fire time twice (each claims it in the journal); a fire missed while no
//! instance ran is caught up once; a time the autumn change repeats runs once, and one
//! the spring change skips runs once as the clock jumps; every run is in the history
//! with its duration and outcome, runs by hand too (with their period and dry run).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::Backend;
use knudepunkt_engine::Journal;
use knudepunkt_engine::schedule::runner::{self, Fired};
use knudepunkt_engine::schedule::{self, Job, Jobs, Progress, Quiet, RunRequest, Schedule};

/// A job that counts its runs, takes a moment, and fails when told to.
struct Counting {
    runs: AtomicUsize,
    fail: bool,
}

#[async_trait::async_trait]
impl Job for Counting {
    fn name(&self) -> &'static str {
        "count"
    }

    async fn run(
        &self,
        request: &RunRequest,
        _progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
        if self.fail {
            return Err("the register did not answer".into());
        }
        Ok(serde_json::json!({ "run": n, "period": request.period, "dry_run": request.dry_run }))
    }
}

fn counting(fail: bool) -> Arc<Counting> {
    Arc::new(Counting {
        runs: AtomicUsize::new(0),
        fail,
    })
}

fn schedule(cron: &str, missed: &str) -> Schedule {
    let dir = common::scratch("schedules");
    std::fs::write(
        dir.join("s.yaml"),
        format!("schedules:\n  - id: test.count\n    cron: \"{cron}\"\n    job: count\n    missed: {missed}\n"),
    )
    .unwrap();
    schedule::load(&dir, "dev", &["count".into()])
        .unwrap()
        .remove(0)
}

/// Two instances' journals on one database.
async fn two_instances(backend: Backend, name: &str) -> (Journal, Journal) {
    let db = common::fresh_database(backend, name).await;
    let a = Journal::open(&db).await.unwrap();
    let b = Journal::open(&db).await.unwrap();
    (a, b)
}

async fn two_instances_never_run_the_same_fire_twice(backend: Backend) {
    let (a, b) = two_instances(backend, "sched-lease").await;
    let s = schedule("0 * * * * *", "skip");
    let job = counting(false);
    let start = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let mut at = start;
    for _ in 0..10 {
        at = s.next_after(at).unwrap();
        let (x, y) = tokio::join!(
            runner::fire(&a, "a", &s, job.as_ref(), at),
            runner::fire(&b, "b", &s, job.as_ref(), at),
        );
        let ran = [&x, &y]
            .iter()
            .filter(|f| matches!(f, Fired::Ran { ok: true, .. }))
            .count();
        assert_eq!(ran, 1, "{x:?} {y:?}");
    }
    assert_eq!(job.runs.load(Ordering::SeqCst), 10);

    // The runners themselves, both on an every-second schedule for a few seconds.
    let every = schedule("* * * * * *", "skip");
    let job = counting(false);
    let jobs: Jobs = [("count".to_string(), job.clone() as Arc<dyn Job>)]
        .into_iter()
        .collect();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ra = tokio::spawn(runner::run(
        a.clone(),
        vec![every.clone()],
        jobs.clone(),
        stopped.clone(),
    ));
    let rb = tokio::spawn(runner::run(b.clone(), vec![every], jobs, stopped));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let _ = stop.send(true);
    let _ = tokio::join!(ra, rb);
    let runs = a.schedule_runs(Some("test.count"), 1000).await.unwrap();
    let by_runner: Vec<_> = runs.iter().filter(|r| r.fire_at.is_some()).collect();
    let keys: std::collections::HashSet<&str> =
        by_runner.iter().map(|r| r.fire_key.as_str()).collect();
    assert!(job.runs.load(Ordering::SeqCst) >= 2, "the runners ran");
    assert_eq!(keys.len(), by_runner.len(), "each fire time once");
    // The ten fires above and the runners' ones: every run of the job is recorded once.
    assert_eq!(by_runner.len(), 10 + job.runs.load(Ordering::SeqCst));
    let instances: std::collections::HashSet<&str> =
        by_runner.iter().map(|r| r.instance.as_str()).collect();
    assert!(instances.len() >= 2, "{instances:?}");
}

async fn a_missed_fire_is_caught_up_once(backend: Backend) {
    let (a, b) = two_instances(backend, "sched-catch-up").await;
    let s = schedule("0 * * * * *", "catch_up");
    let job = counting(false);
    // Never ran: nothing was missed.
    assert_eq!(runner::catch_up(&a, "a", &s, job.as_ref()).await, None);
    // It last ran ten minutes ago; then every instance was down.
    let ten_ago = s
        .next_after(Utc::now() - chrono::Duration::minutes(11))
        .unwrap();
    assert!(matches!(
        runner::fire(&a, "a", &s, job.as_ref(), ten_ago).await,
        Fired::Ran { ok: true, .. }
    ));
    assert_eq!(job.runs.load(Ordering::SeqCst), 1);
    // Both instances start: the missed fires come to one run, once.
    let (x, y) = tokio::join!(
        runner::catch_up(&a, "a", &s, job.as_ref()),
        runner::catch_up(&b, "b", &s, job.as_ref()),
    );
    assert_eq!(job.runs.load(Ordering::SeqCst), 2, "{x:?} {y:?}");
    let runs = a.schedule_runs(Some("test.count"), 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    let latest = runs[0].fire_at.unwrap();
    assert!(
        latest > ten_ago.timestamp_millis(),
        "the latest missed fire"
    );
    assert!(latest <= Utc::now().timestamp_millis());
    // Started again at once: nothing more was missed.
    assert_eq!(runner::catch_up(&a, "a", &s, job.as_ref()).await, None);
}

async fn a_time_the_clock_repeats_or_skips_runs_once(backend: Backend) {
    let (a, _) = two_instances(backend, "sched-dst").await;
    let s = schedule("0 30 2 * * *", "skip");
    let job = counting(false);
    // Autumn: 02:30 on 25 October 2026 is 00:30 and again 01:30 UTC.
    let first = Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap();
    let again = Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).unwrap();
    assert_eq!(
        s.next_after(Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap()),
        Some(first)
    );
    assert!(matches!(
        runner::fire(&a, "a", &s, job.as_ref(), first).await,
        Fired::Ran { .. }
    ));
    assert_eq!(
        runner::fire(&a, "a", &s, job.as_ref(), again).await,
        Fired::Taken,
        "the repeated 02:30 is the same fire"
    );
    // Spring: 02:30 on 29 March 2026 does not exist; it runs as the clock jumps, once.
    let jump = s
        .next_after(Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap())
        .unwrap();
    assert_eq!(jump, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
    assert!(matches!(
        runner::fire(&a, "a", &s, job.as_ref(), jump).await,
        Fired::Ran { .. }
    ));
    assert_eq!(job.runs.load(Ordering::SeqCst), 2);
    let keys: Vec<String> = a
        .schedule_runs(Some("test.count"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.fire_key)
        .collect();
    assert_eq!(keys, ["2026-03-29T03:00:00", "2026-10-25T02:30:00"]);
}

async fn every_run_is_in_the_history(backend: Backend) {
    let (a, _) = two_instances(backend, "sched-history").await;
    let s = schedule("0 0 6 * * *", "skip");
    let failing = counting(true);
    let at = s.next_after(Utc::now()).unwrap();
    assert_eq!(
        runner::fire(&a, "a", &s, failing.as_ref(), at).await,
        Fired::Ran { run: 1, ok: false }
    );
    let fine = counting(false);
    let request = RunRequest {
        period: Some("2026-10".into()),
        dry_run: true,
    };
    let (run, summary) = runner::run_now(&a, &s, fine.as_ref(), &request, &Quiet)
        .await
        .unwrap();
    assert_eq!(summary["period"], "2026-10");
    let runs = a.schedule_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    let by_hand = runs.iter().find(|r| r.id == run).unwrap();
    assert_eq!(by_hand.outcome, "ok");
    assert!(by_hand.dry_run && by_hand.fire_at.is_none());
    assert_eq!(by_hand.period.as_deref(), Some("2026-10"));
    assert!(by_hand.duration_ms.unwrap() >= 30, "{by_hand:?}");
    let failed = runs.iter().find(|r| r.id != run).unwrap();
    assert_eq!(failed.outcome, "failed");
    assert_eq!(
        failed.detail.as_deref(),
        Some("the register did not answer")
    );
    assert!(failed.finished_at.is_some());
}

on_both_backends!(
    two_instances_never_run_the_same_fire_twice,
    a_missed_fire_is_caught_up_once,
    a_time_the_clock_repeats_or_skips_runs_once,
    every_run_is_in_the_history,
);
