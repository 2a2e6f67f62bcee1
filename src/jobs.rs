//! The jobs schedules can run, built for an engine, and the schedules themselves.

use std::sync::Arc;

use knudepunkt_adapters::digital_post::afhentning::{self, Afhentning};
use knudepunkt_engine::Engine;
use knudepunkt_engine::route::Diagnostic;
use knudepunkt_engine::schedule::{self, Jobs, Schedule};

use crate::setup::Context;

/// Every job this build has.
pub fn names() -> Vec<String> {
    vec![afhentning::JOB.to_string()]
}

/// The schedules of the selected environment (`schedules/*.yaml`).
pub fn schedules(ctx: &Context) -> Result<Vec<Schedule>, Vec<Diagnostic>> {
    schedule::load(&ctx.root.join("schedules"), &ctx.environment, &names())
}

/// The schedules, or an error after printing every problem with its file and line.
pub fn schedules_checked(ctx: &Context) -> anyhow::Result<Vec<Schedule>> {
    schedules(ctx).map_err(|diags| {
        for d in &diags {
            eprintln!("{d}");
        }
        anyhow::anyhow!("{} problem(s) in the schedules", diags.len())
    })
}

/// The jobs that can run against `engine`; a job that cannot (its endpoint or
/// certificate is missing from the profile) is left out with its reason.
pub fn build(engine: &Engine) -> (Jobs, Vec<(String, String)>) {
    let mut jobs = Jobs::new();
    let mut missing = Vec::new();
    match Afhentning::new(engine.clone()) {
        Ok(a) => {
            jobs.insert(afhentning::JOB.into(), Arc::new(a));
        }
        Err(e) => missing.push((afhentning::JOB.to_string(), e.to_string())),
    }
    (jobs, missing)
}
