//! Receiving a handover package as a stream: the manifest first, then every part it
//! names, each written to a spool directory while its SHA-256 is taken, and checked
//! against the manifest's size and digest. A part missing, one the manifest does not
//! name or names twice, a digest or size that does not match, an archive that ends early:
//! the package is refused whole, with the reason naming the part. Only the manifest is
//! held in memory; a document is read back from its spool file when it is stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio::io::AsyncRead;

use super::MANIFEST;
use super::model::{Del, Manifest};
use super::ustar::{TarError, TarReader};

/// The largest manifest taken.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// Why a package was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The package itself is wrong: refuse it, and tell DUBU.
    #[error("{0}")]
    Refused(String),
    /// The way it came (the network, the spool disk): try again.
    #[error("{0}")]
    Transport(String),
}

/// A package whose every part matched its manifest.
#[derive(Debug)]
pub struct Received {
    pub manifest: Manifest,
    /// Hex SHA-256 of the manifest as it came: the package's identity.
    pub manifest_sha256: String,
    /// The parts in the manifest's order, each with its spool file.
    pub parts: Vec<(Del, PathBuf)>,
}

impl Received {
    /// The spool file of the first part of type `kind`.
    pub fn part(&self, kind: &str) -> Option<&(Del, PathBuf)> {
        self.parts.iter().find(|(d, _)| d.del_type == kind)
    }
}

fn refused(text: String) -> PackageError {
    PackageError::Refused(text)
}

fn from_tar(e: TarError) -> PackageError {
    match e {
        TarError::Io(..) => PackageError::Transport(e.to_string()),
        other => PackageError::Refused(other.to_string()),
    }
}

/// Checks the manifest's own sense: parts named once, safe names, sizes within `max_part`.
fn check_manifest(m: &Manifest, max_part: u64) -> Result<(), PackageError> {
    let mut seen = std::collections::BTreeSet::new();
    for d in &m.dele {
        if d.navn == MANIFEST || !seen.insert(d.navn.as_str()) {
            return Err(refused(format!("the manifest names part {} twice", d.navn)));
        }
        if d.navn.starts_with('/') || d.navn.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(refused(format!(
                "the manifest's part name {:?} is not a path inside the package",
                d.navn
            )));
        }
        if d.stoerrelse > max_part {
            return Err(refused(format!(
                "part {}: {} bytes, more than the {max_part} a part may have",
                d.navn, d.stoerrelse
            )));
        }
        if d.sha256.len() != 64 || !d.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refused(format!(
                "part {}: sha256 {:?} is not a hex SHA-256",
                d.navn, d.sha256
            )));
        }
    }
    Ok(())
}

/// Reads a package from `stream` into `spool` (which the caller removes).
pub async fn receive<R: AsyncRead + Unpin>(
    stream: R,
    spool: &Path,
    max_part: u64,
) -> Result<Received, PackageError> {
    let mut tar = TarReader::new(stream);
    let first = tar
        .next()
        .await
        .map_err(from_tar)?
        .ok_or_else(|| refused("the package is empty".into()))?;
    if first.name != MANIFEST {
        return Err(refused(format!(
            "the package begins with {}, not {MANIFEST}",
            first.name
        )));
    }
    if first.size > MAX_MANIFEST {
        return Err(refused(format!(
            "{MANIFEST}: {} bytes, more than {MAX_MANIFEST}",
            first.size
        )));
    }
    let mut raw = Vec::with_capacity(first.size as usize);
    let sha = tar.body(&first, &mut raw).await.map_err(from_tar)?;
    let de = &mut serde_json::Deserializer::from_slice(&raw);
    let manifest: Manifest = serde_path_to_error::deserialize(de)
        .map_err(|e| refused(format!("{MANIFEST} at {}: {}", e.path(), e.inner())))?;
    check_manifest(&manifest, max_part)?;
    let expected: BTreeMap<&str, (usize, &Del)> = manifest
        .dele
        .iter()
        .enumerate()
        .map(|(i, d)| (d.navn.as_str(), (i, d)))
        .collect();
    let mut files: Vec<Option<PathBuf>> = vec![None; manifest.dele.len()];
    while let Some(entry) = tar.next().await.map_err(from_tar)? {
        let Some(&(i, del)) = expected.get(entry.name.as_str()) else {
            return Err(refused(format!(
                "part {} is not in the manifest",
                entry.name
            )));
        };
        if files[i].is_some() {
            return Err(refused(format!("part {} comes twice", entry.name)));
        }
        if entry.size != del.stoerrelse {
            return Err(refused(format!(
                "part {}: {} bytes, the manifest says {}",
                entry.name, entry.size, del.stoerrelse
            )));
        }
        let path = spool.join(format!("part-{i}"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| PackageError::Transport(format!("spool file for {}: {e}", entry.name)))?;
        // Written a megabyte at a time: each write is a hop to the blocking pool.
        let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let digest = tar.body(&entry, &mut file).await.map_err(from_tar)?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| PackageError::Transport(format!("spool file for {}: {e}", entry.name)))?;
        let actual = hex::encode(digest);
        if !actual.eq_ignore_ascii_case(&del.sha256) {
            return Err(refused(format!(
                "part {}: its SHA-256 is {actual}, the manifest says {}",
                entry.name, del.sha256
            )));
        }
        files[i] = Some(path);
    }
    let mut parts = Vec::with_capacity(files.len());
    for (del, file) in manifest.dele.iter().zip(files) {
        match file {
            Some(path) => parts.push((del.clone(), path)),
            None => return Err(refused(format!("part {} is missing", del.navn))),
        }
    }
    Ok(Received {
        manifest_sha256: hex::encode(sha),
        manifest,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dubu::ustar::write_all;
    use sha2::{Digest, Sha256};

    fn del(navn: &str, data: &[u8]) -> Del {
        Del {
            navn: navn.into(),
            del_type: "dokument".into(),
            mediatype: "application/pdf".into(),
            stoerrelse: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
            titel: Some(navn.into()),
            dokumenttype: None,
        }
    }

    async fn package(parts: &[(&str, &[u8])], listed: &[(&str, &[u8])]) -> Vec<u8> {
        let manifest = serde_json::to_vec(&Manifest {
            pakke_id: "p1".into(),
            overdragelse_id: "o1".into(),
            cpr: "0101081234".into(),
            dannet: "2026-11-27T08:00:00Z".into(),
            dele: listed.iter().map(|(n, d)| del(n, d)).collect(),
        })
        .unwrap();
        let mut files: Vec<(&str, &[u8])> = vec![(MANIFEST, &manifest)];
        files.extend_from_slice(parts);
        let mut out = Vec::new();
        write_all(&mut out, &files).await.unwrap();
        out
    }

    async fn take(bytes: &[u8]) -> Result<Received, PackageError> {
        let dir = tempfile::tempdir().unwrap();
        receive(bytes, dir.path(), 1 << 20).await
    }

    #[tokio::test]
    async fn parts_are_spooled_as_they_came() {
        let parts: [(&str, &[u8]); 2] = [("a.pdf", b"aaa"), ("b.pdf", b"bbbb")];
        let dir = tempfile::tempdir().unwrap();
        let bytes = package(&parts, &parts).await;
        let r = receive(bytes.as_slice(), dir.path(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&r.parts[1].1).unwrap(), b"bbbb");
        assert_eq!(r.part("dokument").unwrap().0.navn, "a.pdf");
        let big = receive(bytes.as_slice(), dir.path(), 3).await.unwrap_err();
        assert!(big.to_string().contains("more than the 3"), "{big}");
    }

    #[tokio::test]
    async fn a_whole_package_is_taken() {
        let parts: [(&str, &[u8]); 2] = [("a.pdf", b"aaa"), ("b.pdf", b"bbbb")];
        let r = take(&package(&parts, &parts).await).await.unwrap();
        assert_eq!(r.parts.len(), 2);
        assert_eq!(r.manifest.pakke_id, "p1");
    }

    #[tokio::test]
    async fn each_kind_of_damage_is_refused_naming_the_part() {
        let listed: [(&str, &[u8]); 2] = [("a.pdf", b"aaa"), ("b.pdf", b"bbbb")];
        let missing = package(&listed[..1], &listed).await;
        assert!(
            take(&missing)
                .await
                .unwrap_err()
                .to_string()
                .contains("part b.pdf is missing")
        );
        let altered = package(&[("a.pdf", b"aaa"), ("b.pdf", b"bbbX")], &listed).await;
        let e = take(&altered).await.unwrap_err().to_string();
        assert!(e.contains("part b.pdf: its SHA-256"), "{e}");
        let whole = package(&listed, &listed).await;
        let e = take(&whole[..whole.len() - 1024 - 512 - 10])
            .await
            .unwrap_err();
        assert!(
            matches!(e, PackageError::Refused(_)) && e.to_string().contains("ends inside"),
            "{e}"
        );
        let extra = package(
            &[("a.pdf", b"aaa"), ("b.pdf", b"bbbb"), ("c.pdf", b"c")],
            &listed,
        )
        .await;
        assert!(
            take(&extra)
                .await
                .unwrap_err()
                .to_string()
                .contains("c.pdf is not in the manifest")
        );
    }
}
