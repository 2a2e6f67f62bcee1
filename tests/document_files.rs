//! Documents' contents kept as files named by their SHA-256 (KNUDEPUNKT_DOCUMENT_FILES)
//! instead of in the database: a DUBU package's documents are taken over from the spool,
//! a document added through the API is written, both are read back checked, eDoc still
//! gets every file whole, a file changed on disk is refused naming the document, and the
//! sweep removes only files no document names once they are older than the grace.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::case::{ApiWorld, actor, ctx};
use knudepunkt_case::document_files::{DocumentFiles, DocumentStore};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn file_of(root: &Path, sha: &str) -> PathBuf {
    root.join(&sha[..2]).join(&sha[2..4]).join(sha)
}

async fn start(
    backend: common::Backend,
    name: &str,
    routes: &str,
) -> (ApiWorld, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(DocumentFiles::open(dir.path()).unwrap());
    let w = ApiWorld::start_storing(backend, name, routes, DocumentStore::Files(files)).await;
    (w, dir)
}

/// Each document's row: id, SHA-256, whether its content is a file, and the bytes the
/// row itself holds.
async fn rows(w: &ApiWorld, case_id: &str) -> Vec<(String, String, i64, i64)> {
    let mut conn = w.engine.journal().pool().acquire().await.unwrap();
    sqlx::query(
        "SELECT id, sha256, content_in_files, CAST(LENGTH(content) AS BIGINT) AS held \
         FROM documents WHERE case_id = $1 ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("id"),
            r.get("sha256"),
            r.get("content_in_files"),
            r.get("held"),
        )
    })
    .collect()
}

fn age(path: &Path, by: Duration) {
    std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

async fn handover_documents_are_files_read_back_checked_and_sent_whole(backend: common::Backend) {
    let (w, dir) = start(backend, "docfiles_handover", "routes-dubu-edoc").await;
    common::dubu_source::attach(&w.core, &w.engine.routes().environment);
    let o = w
        .sandbox
        .handles
        .dubu
        .cohort()
        .into_iter()
        .find(|o| o.pakke_klar)
        .unwrap();
    let leder = w.as_user("leder1");
    let (s, out) = leder
        .post(
            &format!("/api/v1/handovers/{}/import", o.overdragelse_id),
            json!({"org_unit_id": "bch", "caseworker_id": "leder1", "kle": "27.36.12",
                   "action_facet": "G01", "case_type": "Voksenhandicap"}),
        )
        .await;
    assert_eq!(s, 201, "{out}");
    let case_id = out["case_id"].as_str().unwrap().to_string();

    // The rows name their files; the database holds none of the content.
    let docs = rows(&w, &case_id).await;
    assert_eq!(docs.len(), 5);
    let who = actor(&w.core, "leder1").await;
    for (id, sha256, in_files, held) in &docs {
        assert_eq!((*in_files, *held), (1, 0), "document {id}");
        assert!(file_of(dir.path(), sha256).is_file(), "document {id}");
        let (info, content) = w.core.document_content(&ctx(&who), id).await.unwrap();
        assert_eq!(sha(&content), *sha256);
        assert_eq!(content.len() as i64, info.size);
    }
    // The spool went with the import.
    assert_eq!(
        std::fs::read_dir(dir.path().join("incoming"))
            .unwrap()
            .count(),
        0
    );

    // eDoc gets every file whole (it checks each against its SHA-256 and size).
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let sag = loop {
        if let Some(s) = w.sandbox.handles.edoc.sag(&case_id)
            && s.dokumenter.len() == 5
        {
            break s;
        }
        assert!(
            std::time::Instant::now() < until,
            "eDoc never got the files"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (id, sha256, _, _) in &docs {
        assert_eq!(&sag.dokumenter[id].sha256, sha256, "document {id}");
    }

    // A document added through the API is written as a file too.
    let added = b"%PDF-1.4 a letter from the citizen";
    let doc_id = &common::case::add_document(&leder, &case_id, "Brev", added).await;
    let row = rows(&w, &case_id)
        .await
        .into_iter()
        .find(|(id, ..)| id == doc_id)
        .unwrap();
    assert_eq!((row.2, row.3), (1, 0));
    let (_, content) = w.core.document_content(&ctx(&who), doc_id).await.unwrap();
    assert_eq!(content, added);

    // A file changed on disk is refused on read, naming the document.
    std::fs::write(file_of(dir.path(), &sha(added)), b"%PDF-1.4 something else").unwrap();
    let err = w
        .core
        .document_content(&ctx(&who), doc_id)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(doc_id) && err.contains("no longer matches"),
        "{err}"
    );
    w.stop().await;
}

async fn only_files_no_document_names_are_swept_after_the_grace(backend: common::Backend) {
    let (w, dir) = start(backend, "docfiles_sweep", "routes-dubu").await;
    let leder = w.as_user("leder1");
    let case_id = common::case::open_case(&leder, false).await;
    let named = b"%PDF-1.4 kept";
    let doc_id = common::case::add_document(&leder, &case_id, "Notat", named).await;
    // What a rolled-back transaction leaves: files no document names, one old, one new,
    // and an interrupted spool.
    let files = DocumentFiles::open(dir.path()).unwrap();
    files.put(&sha(b"old orphan"), b"old orphan").await.unwrap();
    files.put(&sha(b"new orphan"), b"new orphan").await.unwrap();
    let spool = dir.path().join("incoming").join("knudepunkt-handover-x");
    std::fs::create_dir(&spool).unwrap();
    let two_days = Duration::from_secs(2 * 24 * 3600);
    age(&file_of(dir.path(), &sha(b"old orphan")), two_days);
    age(&file_of(dir.path(), &sha(named)), two_days);
    std::fs::File::open(&spool)
        .unwrap()
        .set_modified(SystemTime::now() - two_days)
        .unwrap();

    let swept = w
        .core
        .sweep_document_files(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        (swept.files, swept.removed, swept.incoming_removed),
        (3, 1, 1),
        "{swept:?}"
    );
    assert_eq!(swept.removed_bytes, b"old orphan".len() as u64);
    assert!(!file_of(dir.path(), &sha(b"old orphan")).exists());
    assert!(file_of(dir.path(), &sha(b"new orphan")).exists());
    assert!(!spool.exists());
    let who = actor(&w.core, "leder1").await;
    let (_, content) = w.core.document_content(&ctx(&who), &doc_id).await.unwrap();
    assert_eq!(content, named);
    w.stop().await;

    // With contents in the database there is nothing to sweep, and the operator is told.
    let w = common::case::world(backend, "docfiles_sweep_db", Default::default()).await;
    let err = w
        .core
        .sweep_document_files(Duration::from_secs(3600))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("KNUDEPUNKT_DOCUMENT_FILES"), "{err}");
}

on_both_backends!(
    handover_documents_are_files_read_back_checked_and_sent_whole,
    only_files_no_document_names_are_swept_after_the_grace,
);
