//! A file journal's large payloads, kept as files beside it.
//!
//! SQLite wrote a payload kept in `message_payloads` several times over: into the WAL
//! (with a checksum over every frame), back into the database at the checkpoint, and
//! it read it back through its page cache and two copies in the driver. For a letter's
//! 270 KB MeMo that was a third of the machine's time per letter. A payload of
//! [`FILE_MIN`] or more is therefore written once, to a file of its own named by its
//! message id, under `<journal>.payloads/<day>/` (the day its id was made, UTC),
//! and read once, by the worker that claims it. The message's row keeps the payload's
//! size (`payload_size`), and its checksum is checked before every send as before.
//!
//! A payload's file is written and flushed to disk (with its directory) before the
//! transaction that journals its message begins: a row that survives a crash always
//! finds its payload. A file whose message was never journaled (a duplicate, a rolled
//! back transaction, a crash in between) is removed by [`PayloadFiles::sweep`] once it
//! is older than any transaction.
//!
//! A journal in memory, and PostgreSQL, keep payloads in their tables.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::ids::MessageId;

/// The smallest payload kept in a file. A file costs two flushes to disk of its own (the
/// file and its directory), which for a few kilobytes cost more than SQLite's writing:
/// MedCom's letters of a few kilobytes, a thousand a second, stay in the journal, where
/// a group commit writes many at once.
pub const FILE_MIN: usize = 64 * 1024;

/// A payload file could not be written, read or removed.
#[derive(Debug, thiserror::Error)]
#[error("payload file {path} of message {id}: {source}")]
pub struct PayloadFileError {
    pub id: MessageId,
    pub path: String,
    pub source: std::io::Error,
}

/// The directory of a file journal's payloads.
#[derive(Clone, Debug)]
pub struct PayloadFiles {
    dir: PathBuf,
}

impl PayloadFiles {
    /// The payload files of the journal database at `database`: `<database>.payloads`.
    pub fn beside(database: &Path) -> Self {
        let mut dir = database.as_os_str().to_owned();
        dir.push(".payloads");
        PayloadFiles {
            dir: PathBuf::from(dir),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where message `id`'s payload is kept.
    pub fn path_of(&self, id: MessageId) -> PathBuf {
        self.dir.join(day_of(id)).join(id.to_string())
    }

    /// Writes each payload to its file and flushes the files and their directories to
    /// disk. Blocking: call it on a thread that may block.
    pub fn write_all(&self, payloads: &[(MessageId, &[u8])]) -> Result<(), PayloadFileError> {
        let mut days = BTreeSet::new();
        for &(id, payload) in payloads {
            let path = self.path_of(id);
            let failed = |source| PayloadFileError {
                id,
                path: path.display().to_string(),
                source,
            };
            let day = path.parent().expect("a day directory").to_path_buf();
            if days.insert(day.clone()) && !day.is_dir() {
                std::fs::create_dir_all(&day).map_err(failed)?;
                // The new day's entry in the payloads directory, and that directory's
                // own entry if it is new too.
                sync_dir(&self.dir).map_err(failed)?;
                if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(parent).map_err(failed)?;
                }
            }
            // A message id is made once: an existing file is not overwritten.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(failed)?;
            file.write_all(payload).map_err(failed)?;
            file.sync_data().map_err(failed)?;
        }
        for day in &days {
            sync_dir(day).map_err(|source| PayloadFileError {
                id: payloads[0].0,
                path: day.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Message `id`'s payload, or None when it has no file. Blocking.
    pub fn read(&self, id: MessageId) -> Result<Option<Vec<u8>>, PayloadFileError> {
        let path = self.path_of(id);
        let failed = |source| PayloadFileError {
            id,
            path: path.display().to_string(),
            source,
        };
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        let size = file.metadata().map_err(failed)?.len() as usize;
        let mut payload = Vec::with_capacity(size);
        file.read_to_end(&mut payload).map_err(failed)?;
        Ok(Some(payload))
    }

    /// Removes message `id`'s payload file; one that is not there is no error.
    pub fn remove(&self, id: MessageId) -> Result<(), PayloadFileError> {
        let path = self.path_of(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(PayloadFileError {
                id,
                path: path.display().to_string(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// The messages whose payload files were last written before `cutoff`. Blocking.
    /// Files whose names are not message ids are not the journal's and are left alone.
    pub fn written_before(&self, cutoff: SystemTime) -> std::io::Result<Vec<MessageId>> {
        let mut out = Vec::new();
        let days = match std::fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for day in days {
            let day = day?;
            if !day.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(day.path())? {
                let file = file?;
                let Some(id) = file
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<MessageId>().ok())
                else {
                    continue;
                };
                if file.metadata()?.modified()? < cutoff {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }
}

/// The day message `id` was made (UTC), from its time-ordered id; ids without a time
/// go under `undated`.
fn day_of(id: MessageId) -> String {
    id.created_at_ms()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "undated".into())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str) -> PayloadFiles {
        let dir = std::env::temp_dir().join(format!("kp-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        PayloadFiles::beside(&dir.join("j.db"))
    }

    #[test]
    fn a_payload_is_read_back_as_written_from_its_days_directory() {
        let files = files("roundtrip");
        let (a, b) = (MessageId::new(), MessageId::new());
        let big = vec![7u8; 300_000];
        files.write_all(&[(a, &big), (b, b"small")]).unwrap();
        assert_eq!(files.read(a).unwrap().unwrap(), big);
        assert_eq!(files.read(b).unwrap().unwrap(), b"small");
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert!(files.path_of(a).starts_with(files.dir().join(today)));
        assert!(files.dir().to_string_lossy().ends_with("j.db.payloads"));
        assert_eq!(files.read(MessageId::new()).unwrap(), None);
    }

    #[test]
    fn a_file_is_never_overwritten_and_removing_twice_is_no_error() {
        let files = files("once");
        let id = MessageId::new();
        files.write_all(&[(id, b"first")]).unwrap();
        let e = files.write_all(&[(id, b"second")]).unwrap_err();
        assert_eq!(e.id, id);
        assert!(e.to_string().contains(&id.to_string()), "{e}");
        assert_eq!(files.read(id).unwrap().unwrap(), b"first");
        files.remove(id).unwrap();
        files.remove(id).unwrap();
        assert_eq!(files.read(id).unwrap(), None);
    }

    #[test]
    fn files_written_before_a_time_are_listed_and_strangers_are_not() {
        let files = files("sweep");
        let id = MessageId::new();
        files.write_all(&[(id, b"x")]).unwrap();
        std::fs::write(files.path_of(id).with_file_name("notes.txt"), b"mine").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        assert_eq!(files.written_before(later).unwrap(), vec![id]);
        let earlier = SystemTime::now() - std::time::Duration::from_secs(3600);
        assert!(files.written_before(earlier).unwrap().is_empty());
    }
}
