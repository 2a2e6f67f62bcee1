//! libxml2 used from many threads at once, first thing in a fresh process: each thread
//! compiles its first schemas at the same moment. libxml2 (2.9) wants `xmlInitParser`
//! called once before threads use it; without it, two tests loading routes at once
//! hung in CI with both threads waiting on the catalogs' lock in `xmlCatalogResolve`.
//! `init_libxml` now does that set-up once, and schemas compile one at a time. The hang
//! is a race: this test did not reproduce it in 30 runs without the fix (nor did the
//! test that hung, in 10), so it guards the path rather than proving the fix. This file
//! holds one test, so that the process is fresh.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use knudepunkt_engine::transform::xsd::check_schema;

#[test]
fn threads_compiling_their_first_schemas_at_once_all_finish() {
    let formats = common::repo().join("../shared/formats");
    // Schemas that import and include others: each file loaded is a catalog lookup.
    let schemas: Vec<PathBuf> = [
        "memo/MeMo_core.xsd",
        "kle/KLE-Emneplan-version-2-0.xsd",
        "sf1600/PrintServiceMsg.xsd",
        "memo/MeMo_core.xsd",
        "kle/KLE-Emneplan-version-2-0.xsd",
        "sf1600/PrintServiceMsg.xsd",
        "memo/MeMo_core.xsd",
        "kle/KLE-Emneplan-version-2-0.xsd",
    ]
    .iter()
    .map(|s| formats.join(s))
    .collect();
    for s in &schemas {
        assert!(s.is_file(), "{} is missing", s.display());
    }
    let start = Arc::new(Barrier::new(schemas.len()));
    let (done, finished) = mpsc::channel();
    for schema in schemas.clone() {
        let (start, done) = (start.clone(), done.clone());
        std::thread::spawn(move || {
            start.wait();
            let compiled = check_schema(&schema).map_err(|e| e.to_string());
            done.send((schema, compiled)).unwrap();
        });
    }
    for _ in &schemas {
        let (schema, compiled) = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("a thread compiling a schema never finished: libxml2 hung");
        compiled.unwrap_or_else(|e| panic!("{}: {e}", schema.display()));
    }
}
