//! KLE from STS Klassifikation into the case core: the adapters' client reads the
//! classes, the core keeps them (`kle_sync`).

use knudepunkt_adapters::klassifikation::{KlassifikationClient, KleClass};
use knudepunkt_case::CaseCore;
use knudepunkt_case::kle_sync::{KleEntry, KleSyncReport};

/// What the core keeps of a class.
pub fn entry(c: KleClass) -> KleEntry {
    KleEntry {
        level: c.level.as_str().into(),
        number: c.number,
        title: c.title,
        parent: c.parent,
        valid_from: c.created,
        valid_to: c.expired,
        replaced_by: c.replaced_by,
    }
}

/// Reads every KLE class from `client` and brings `core` in step; `progress` hears
/// (classes read, classes found).
pub async fn sync(
    core: &CaseCore,
    client: &KlassifikationClient,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<KleSyncReport, String> {
    let classes = client.kle(progress).await?;
    let entries: Vec<KleEntry> = classes.into_iter().map(entry).collect();
    let today = chrono::Utc::now().date_naive().to_string();
    core.sync_kle(&entries, &today)
        .await
        .map_err(|e| e.to_string())
}
