pub mod bench;
pub mod bench_case;
pub mod bench_cpr;
pub mod bench_digital_post;
pub mod bench_dubu;
pub mod bench_index;
pub mod bench_journals;
pub mod bench_kle;
pub mod bench_medcom;
pub mod bench_org;
pub mod bench_reports;
pub mod bench_scale;
pub mod bench_security;
pub mod beskedfordeler;
pub mod demo;
pub mod demo_case;
pub mod demo_handover;
pub mod demo_medcom;
pub mod demo_reports;
pub mod dlq;
pub mod documents;
pub mod index;
pub mod kle;
pub mod machine_cpu;
pub mod messages;
pub mod report;
pub mod route;
pub mod rss;
pub mod sandbox;
mod sandbox_process;
pub mod schedule;
pub mod serve;
pub mod stack;
pub mod status;
pub mod token;

use knudepunkt_engine::message::{JournalMessage, format_ms};

/// Prints `value` as JSON, or runs `human` for people.
pub fn emit<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce()) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("serialisable")
        );
    } else {
        human();
    }
}

pub fn print_table(messages: &[JournalMessage]) {
    println!(
        "{:<36}  {:<20}  {:<10}  {:>3}  {:<24}  LAST ERROR",
        "ID", "ROUTE", "STATE", "TRY", "UPDATED"
    );
    for m in messages {
        println!(
            "{:<36}  {:<20}  {:<10}  {:>3}  {:<24}  {}",
            m.id,
            m.route,
            m.state.as_str(),
            m.attempts,
            format_ms(m.updated_at),
            m.last_error.as_deref().unwrap_or("")
        );
    }
    println!("{} message(s)", messages.len());
}
