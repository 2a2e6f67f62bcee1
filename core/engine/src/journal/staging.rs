//! Staging large payloads in a file journal's payload files before the transaction
//! that journals their messages, and sweeping away those whose message never came.

use std::time::{Duration, SystemTime};

use sqlx::Row;
use tracing::{info, warn};

use super::payload_files::FILE_MIN;
use super::{Journal, JournalError, NewMessage};

/// No transaction that journals a staged message stays open this long: a payload file
/// older than this without its message is an orphan.
pub const ORPHANED_AFTER: Duration = Duration::from_secs(3600);

/// Whether `msg`'s payload is staged in a file: large enough, and not staged yet.
fn goes_to_a_file(msg: &NewMessage) -> bool {
    msg.payload_file.is_none() && msg.payload.len() >= FILE_MIN
}

impl Journal {
    /// Writes the payloads of `msgs` of [`FILE_MIN`] or more to the journal's payload
    /// files, to disk, and lets go of them in memory (see [`NewMessage::payload_file`]); a journal without
    /// payload files leaves them as they are. Blocking: call it where blocking is
    /// allowed (see [`Journal::stage`] otherwise).
    pub fn stage_blocking<'a>(
        &self,
        msgs: impl IntoIterator<Item = &'a mut NewMessage>,
    ) -> Result<(), JournalError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let mut staged: Vec<&mut NewMessage> =
            msgs.into_iter().filter(|m| goes_to_a_file(m)).collect();
        let writes: Vec<_> = staged
            .iter()
            .map(|m| (m.id, m.payload.as_slice()))
            .collect();
        files.write_all(&writes)?;
        for m in &mut staged {
            m.payload_file = Some(m.payload.len() as i64);
            m.payload = Vec::new();
        }
        Ok(())
    }

    /// [`Journal::stage_blocking`] on a thread that may block. The messages move there
    /// and back uncopied.
    pub async fn stage(&self, mut msgs: Vec<NewMessage>) -> Result<Vec<NewMessage>, JournalError> {
        let needed = self.files.is_some() && msgs.iter().any(goes_to_a_file);
        if !needed {
            return Ok(msgs);
        }
        let journal = self.clone();
        tokio::task::spawn_blocking(move || journal.stage_blocking(&mut msgs).map(|()| msgs))
            .await
            .map_err(|e| JournalError::Write(format!("staging payload files: {e}")))?
    }

    /// Removes the payload files written before `older_than` ago whose message is not in
    /// the journal; how many.
    pub async fn sweep_payload_files(&self, older_than: Duration) -> Result<usize, JournalError> {
        let Some(files) = self.files.clone() else {
            return Ok(0);
        };
        let cutoff = SystemTime::now() - older_than;
        let listing = files.clone();
        let listed = tokio::task::spawn_blocking(move || listing.written_before(cutoff))
            .await
            .map_err(|e| JournalError::Write(format!("listing payload files: {e}")))?
            .map_err(|source| JournalError::PayloadDirectory {
                path: files.dir().display().to_string(),
                source,
            })?;
        let mut removed = 0;
        for chunk in listed.chunks(200) {
            let sql = format!(
                "SELECT id FROM messages WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            let journaled: std::collections::HashSet<String> = q
                .fetch_all(&self.reader)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            for id in chunk
                .iter()
                .filter(|id| !journaled.contains(&id.to_string()))
            {
                files.remove(*id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Sweeps orphaned payload files now and every hour, until `stop` turns true.
    pub async fn sweep_payload_files_until(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.files.is_none() {
            return;
        }
        while !*stop.borrow() {
            match self.sweep_payload_files(ORPHANED_AFTER).await {
                Ok(0) => {}
                Ok(n) => info!(removed = n, "payload files whose message never came"),
                Err(e) => warn!(error = %e, "sweeping orphaned payload files failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(ORPHANED_AFTER) => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
    }
}
