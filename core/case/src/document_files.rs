//! Where documents' contents are kept: in the `documents` table (the default, one
//! backup covers everything), or as files named by their SHA-256 in a directory beside
//! the database (`KNUDEPUNKT_DOCUMENT_FILES`), which keeps gigabytes of PDFs out of the
//! database's pages and write-ahead log.
//!
//! A file is written (to `incoming/`, synced, renamed into place) before the row that
//! names it is committed, so a committed row always finds its file. A transaction that
//! rolls back leaves a file no row names; [`DocumentFiles::sweep`] removes such files
//! once they are older than a grace period. The same content is kept once.

use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::{CaseError, CaseResult};

/// Where the case core keeps documents' contents.
#[derive(Clone, Debug, Default)]
pub enum DocumentStore {
    /// In the `documents` table.
    #[default]
    Database,
    /// As files under a directory.
    Files(Arc<DocumentFiles>),
}

/// A directory of documents' contents, each file named by its SHA-256:
/// `ab/cd/abcd…`, and `incoming/` for files being written and packages being spooled.
#[derive(Debug)]
pub struct DocumentFiles {
    root: PathBuf,
}

/// What a sweep found and removed.
#[derive(Debug, Default, serde::Serialize)]
pub struct Swept {
    /// Files looked at.
    pub files: u64,
    /// Files no document names, removed.
    pub removed: u64,
    pub removed_bytes: u64,
    /// Left-overs in `incoming/` (interrupted writes and spools), removed.
    pub incoming_removed: u64,
}

fn io_error(what: impl std::fmt::Display, e: std::io::Error) -> CaseError {
    CaseError::Unavailable {
        system: "document files".into(),
        detail: format!("{what}: {e}"),
    }
}

fn checked_sha(sha: &str) -> CaseResult<&str> {
    if sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(sha)
    } else {
        Err(CaseError::invalid(
            "sha256",
            format!("{sha:?} is not a lower-case hex SHA-256"),
        ))
    }
}

/// Makes a file's name and data durable: the file itself, then its directory.
fn sync_into_place(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::File::open(tmp)?.sync_all()?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(tmp, dest)?;
    if let Some(dir) = dest.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A file already kept is not written again; its time is renewed so that a sweep
/// running meanwhile does not take it as left over.
fn renew(path: &Path) -> std::io::Result<bool> {
    match std::fs::File::options().append(true).open(path) {
        Ok(f) => {
            f.set_modified(SystemTime::now())?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn modified_before(meta: &std::fs::Metadata, cutoff: SystemTime) -> bool {
    meta.modified().map(|m| m < cutoff).unwrap_or(false)
}

impl DocumentFiles {
    /// Opens (and creates) the directory.
    pub fn open(root: impl Into<PathBuf>) -> CaseResult<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("incoming"))
            .map_err(|e| io_error(format!("directory {}", root.display()), e))?;
        Ok(DocumentFiles { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where packages are spooled, so that a spooled file is taken over by a rename.
    pub fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }

    fn path_of(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[..2]).join(&sha[2..4]).join(sha)
    }

    fn temp_path(&self) -> PathBuf {
        self.incoming()
            .join(format!("{}.part", uuid::Uuid::new_v4()))
    }

    /// Keeps `content`, whose SHA-256 the caller has taken.
    pub async fn put(&self, sha: &str, content: &[u8]) -> CaseResult<()> {
        let dest = self.path_of(checked_sha(sha)?);
        let tmp = self.temp_path();
        let content = content.to_vec();
        let sha = sha.to_string();
        tokio::task::spawn_blocking(move || {
            if renew(&dest)? {
                return Ok(());
            }
            let written = (|| {
                let mut f = std::fs::File::create_new(&tmp)?;
                f.write_all(&content)?;
                drop(f);
                sync_into_place(&tmp, &dest)
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        })
        .await
        .map_err(|e| io_error("writing a document file", std::io::Error::other(e)))?
        .map_err(|e| io_error(format!("document file {sha}"), e))
    }

    /// Takes over `spooled` (a file under [`Self::incoming`] whose SHA-256 and size the
    /// caller has checked) by a hard link, or a copy across file systems.
    pub async fn adopt(&self, sha: &str, spooled: &Path) -> CaseResult<()> {
        let dest = self.path_of(checked_sha(sha)?);
        let tmp = self.temp_path();
        let from = spooled.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if renew(&dest)? {
                return Ok(());
            }
            let linked = std::fs::hard_link(&from, &tmp)
                .or_else(|_| std::fs::copy(&from, &tmp).map(|_| ()))
                .and_then(|()| sync_into_place(&tmp, &dest));
            if linked.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            linked
        })
        .await
        .map_err(|e| io_error("adopting a document file", std::io::Error::other(e)))?
        .map_err(|e| io_error(format!("document file {sha} from {}", spooled.display()), e))
    }

    /// The content kept under `sha` (the caller checks it against the SHA-256).
    pub async fn read(&self, sha: &str) -> CaseResult<Vec<u8>> {
        let path = self.path_of(checked_sha(sha)?);
        tokio::fs::read(&path).await.map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                CaseError::Corrupt {
                    what: format!("document file {sha}"),
                    detail: format!("{} is missing from the document files", path.display()),
                }
            } else {
                io_error(format!("document file {sha}"), e)
            }
        })
    }

    /// Removes files no document names and left-overs in `incoming/`, of those older
    /// than `grace` (a transaction still running when the sweep starts is younger).
    pub async fn sweep(&self, pool: &sqlx::AnyPool, grace: Duration) -> CaseResult<Swept> {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let root = self.root.clone();
        let (candidates, mut swept) = tokio::task::spawn_blocking(move || old_files(&root, cutoff))
            .await
            .map_err(|e| io_error("sweeping the document files", std::io::Error::other(e)))?
            .map_err(|e| io_error("sweeping the document files", e))?;
        let mut conn = pool.acquire().await?;
        for (path, sha, size) in candidates {
            let named = sqlx::query(
                "SELECT 1 AS one FROM documents WHERE sha256 = $1 AND content_in_files = 1 LIMIT 1",
            )
            .bind(&sha)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
            if named {
                continue;
            }
            // Renewed since it was listed: a new document takes it.
            match std::fs::metadata(&path) {
                Ok(m) if modified_before(&m, cutoff) => {}
                _ => continue,
            }
            std::fs::remove_file(&path).map_err(|e| io_error(path.display(), e))?;
            swept.removed += 1;
            swept.removed_bytes += size;
        }
        Ok(swept)
    }
}

type OldFiles = (Vec<(PathBuf, String, u64)>, Swept);

/// The kept files older than `cutoff`; stale entries of `incoming/` are removed here.
fn old_files(root: &Path, cutoff: SystemTime) -> std::io::Result<OldFiles> {
    let mut swept = Swept::default();
    let mut found = Vec::new();
    for top in std::fs::read_dir(root)? {
        let top = top?;
        let name = top.file_name().to_string_lossy().into_owned();
        if name == "incoming" {
            for e in std::fs::read_dir(top.path())? {
                let e = e?;
                if modified_before(&e.metadata()?, cutoff) {
                    let p = e.path();
                    if e.file_type()?.is_dir() {
                        std::fs::remove_dir_all(&p)?;
                    } else {
                        std::fs::remove_file(&p)?;
                    }
                    swept.incoming_removed += 1;
                }
            }
            continue;
        }
        if !top.file_type()?.is_dir() || name.len() != 2 {
            continue;
        }
        for mid in std::fs::read_dir(top.path())? {
            let mid = mid?;
            if !mid.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(mid.path())? {
                let f = f?;
                let sha = f.file_name().to_string_lossy().into_owned();
                if checked_sha(&sha).is_err() {
                    continue;
                }
                swept.files += 1;
                let meta = f.metadata()?;
                if modified_before(&meta, cutoff) {
                    found.push((f.path(), sha, meta.len()));
                }
            }
        }
    }
    Ok((found, swept))
}

/// The SHA-256 and size of a file, read a piece at a time.
pub(crate) async fn digest_file(path: &Path) -> std::io::Result<(String, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok((hex::encode(hasher.finalize()), size))
    })
    .await
    .map_err(std::io::Error::other)?
}

impl crate::store::CaseCore {
    /// Sweeps the document files ([`DocumentFiles::sweep`]); refused when contents are
    /// kept in the database.
    pub async fn sweep_document_files(&self, grace: Duration) -> CaseResult<Swept> {
        match &self.documents {
            DocumentStore::Files(files) => files.sweep(self.journal().pool(), grace).await,
            DocumentStore::Database => Err(CaseError::invalid(
                "KNUDEPUNKT_DOCUMENT_FILES",
                "not set: documents' contents are kept in the database, and there are no document files to sweep",
            )),
        }
    }
}

impl DocumentStore {
    /// Keeps `content` (SHA-256 `sha`) where this store keeps contents; gives what the
    /// row's `content` and `content_in_files` columns are written with.
    pub(crate) async fn keep(&self, sha: &str, content: &[u8]) -> CaseResult<(Vec<u8>, i64)> {
        match self {
            DocumentStore::Database => Ok((content.to_vec(), 0)),
            DocumentStore::Files(files) => {
                files.put(sha, content).await?;
                Ok((Vec::new(), 1))
            }
        }
    }

    /// The content of document `id` from its row (`content`, `content_in_files`,
    /// `sha256`), checked against the SHA-256 taken when it was added.
    pub(crate) async fn load(&self, id: &str, row: &sqlx::any::AnyRow) -> CaseResult<Vec<u8>> {
        let sha: String = row.try_get("sha256")?;
        let content = if row.try_get::<i64, _>("content_in_files")? != 0 {
            match self {
                DocumentStore::Files(files) => files.read(&sha).await?,
                DocumentStore::Database => {
                    return Err(CaseError::Unavailable {
                        system: "document files".into(),
                        detail: format!(
                            "document {id} is kept in the document files, and none are configured (KNUDEPUNKT_DOCUMENT_FILES)"
                        ),
                    });
                }
            }
        } else {
            row.try_get("content")?
        };
        if hex::encode(Sha256::digest(&content)) != sha {
            return Err(CaseError::Corrupt {
                what: format!("document {id}"),
                detail: "its content no longer matches the SHA-256 taken when it was added".into(),
            });
        }
        Ok(content)
    }

    /// The directory packages are spooled in: the files' own `incoming/`, or the
    /// system's temporary directory.
    pub(crate) fn spool_dir(&self) -> PathBuf {
        match self {
            DocumentStore::Files(files) => files.incoming(),
            DocumentStore::Database => std::env::temp_dir(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[tokio::test]
    async fn a_content_is_kept_once_under_its_sha_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = DocumentFiles::open(dir.path()).unwrap();
        let s = sha(b"%PDF-1.4 hello");
        files.put(&s, b"%PDF-1.4 hello").await.unwrap();
        files.put(&s, b"%PDF-1.4 hello").await.unwrap();
        assert_eq!(files.read(&s).await.unwrap(), b"%PDF-1.4 hello");
        let path = dir.path().join(&s[..2]).join(&s[2..4]).join(&s);
        assert!(path.is_file());
        assert_eq!(std::fs::read_dir(files.incoming()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_spooled_file_is_taken_over_and_the_spool_may_go() {
        let dir = tempfile::tempdir().unwrap();
        let files = DocumentFiles::open(dir.path()).unwrap();
        let spool = files.incoming().join("pkg-1");
        std::fs::write(&spool, b"spooled bytes").unwrap();
        let (s, size) = digest_file(&spool).await.unwrap();
        assert_eq!((s.as_str(), size), (sha(b"spooled bytes").as_str(), 13));
        files.adopt(&s, &spool).await.unwrap();
        std::fs::remove_file(&spool).unwrap();
        assert_eq!(files.read(&s).await.unwrap(), b"spooled bytes");
    }

    #[tokio::test]
    async fn a_name_that_is_not_a_sha_is_refused_and_a_missing_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = DocumentFiles::open(dir.path()).unwrap();
        let err = files.put("../../etc/passwd", b"x").await.unwrap_err();
        assert!(
            err.to_string().contains("not a lower-case hex SHA-256"),
            "{err}"
        );
        let missing = sha(b"never kept");
        let err = files.read(&missing).await.unwrap_err();
        assert!(matches!(err, CaseError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&missing), "{err}");
    }
}
