//! The ustar archive a handover package travels as, read as a stream (one 512-byte
//! header, then the file, padded to 512) and written by the sandbox. Only regular files
//! and directories are taken; a header whose checksum does not add up, or an archive
//! that ends inside a header or a file, is an error naming where.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const BLOCK: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("the archive ends inside {0}")]
    Truncated(String),
    #[error("header {index}: {reason}")]
    Header { index: usize, reason: String },
    #[error("{0}: reading the archive: {1}")]
    Io(String, std::io::Error),
}

/// One file in the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
}

pub struct TarReader<R> {
    inner: R,
    headers: usize,
    ended: bool,
}

fn field(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

fn octal(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field(bytes)).ok()?.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Reads exactly `buf.len()` bytes, or says how many came before the end.
async fn fill<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

impl<R: AsyncRead + Unpin> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            headers: 0,
            ended: false,
        }
    }

    /// The next file's header, or `None` at the archive's end. The previous file must
    /// have been read with [`TarReader::body`].
    pub async fn next(&mut self) -> Result<Option<Entry>, TarError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let mut h = [0u8; BLOCK];
            let index = self.headers;
            let got = fill(&mut self.inner, &mut h)
                .await
                .map_err(|e| TarError::Io(format!("header {index}"), e))?;
            if got == 0 {
                return Err(TarError::Truncated(
                    "the archive: no end-of-archive blocks".into(),
                ));
            }
            if got < BLOCK {
                return Err(TarError::Truncated(format!("header {index}")));
            }
            self.headers += 1;
            if h.iter().all(|&b| b == 0) {
                self.ended = true;
                return Ok(None);
            }
            let bad = |reason: String| TarError::Header { index, reason };
            let want =
                octal(&h[148..156]).ok_or_else(|| bad("its checksum is not octal".into()))?;
            let sum: u64 = h
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        b as u64
                    }
                })
                .sum();
            if sum != want {
                return Err(bad(format!(
                    "checksum {want} but the header adds up to {sum}"
                )));
            }
            let mut name = String::from_utf8(field(&h[0..100]).to_vec())
                .map_err(|_| bad("its name is not UTF-8".into()))?;
            if &h[257..262] == b"ustar" {
                let prefix = std::str::from_utf8(field(&h[345..500]))
                    .map_err(|_| bad("its name prefix is not UTF-8".into()))?;
                if !prefix.is_empty() {
                    name = format!("{prefix}/{name}");
                }
            }
            let size =
                octal(&h[124..136]).ok_or_else(|| bad(format!("{name}: its size is not octal")))?;
            match h[156] {
                b'0' | 0 => return Ok(Some(Entry { name, size })),
                b'5' => {
                    self.skip(size, &name).await?;
                    continue;
                }
                other => {
                    return Err(bad(format!(
                        "{name}: type {:?} is not a file or a directory",
                        other as char
                    )));
                }
            }
        }
    }

    /// The file's `size` bytes to `out`, hashed on the way; its padding skipped.
    /// Returns the SHA-256.
    pub async fn body<W: AsyncWrite + Unpin>(
        &mut self,
        entry: &Entry,
        out: &mut W,
    ) -> Result<[u8; 32], TarError> {
        let mut hasher = Sha256::new();
        let mut left = entry.size;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let n = self
                .inner
                .read(&mut buf[..want])
                .await
                .map_err(|e| TarError::Io(entry.name.clone(), e))?;
            if n == 0 {
                return Err(TarError::Truncated(format!(
                    "{} ({} of {} bytes)",
                    entry.name,
                    entry.size - left,
                    entry.size
                )));
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .await
                .map_err(|e| TarError::Io(entry.name.clone(), e))?;
            left -= n as u64;
        }
        self.pad(entry.size, &entry.name).await?;
        Ok(hasher.finalize().into())
    }

    async fn skip(&mut self, size: u64, name: &str) -> Result<(), TarError> {
        let mut sink = tokio::io::sink();
        self.body(
            &Entry {
                name: name.into(),
                size,
            },
            &mut sink,
        )
        .await
        .map(|_| ())
    }

    async fn pad(&mut self, size: u64, name: &str) -> Result<(), TarError> {
        let rest = (BLOCK - (size as usize % BLOCK)) % BLOCK;
        let mut buf = [0u8; BLOCK];
        let got = fill(&mut self.inner, &mut buf[..rest])
            .await
            .map_err(|e| TarError::Io(name.into(), e))?;
        if got < rest {
            return Err(TarError::Truncated(format!("{name} (its padding)")));
        }
        Ok(())
    }
}

/// The ustar header of a regular file `name` (at most 100 bytes, or split at a `/` into
/// a prefix of at most 155) of `size` bytes.
pub fn header(name: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let (prefix, base) = if name.len() <= 100 {
        ("", name)
    } else {
        let cut = name[..name.len().min(156)].rfind('/').unwrap_or(0);
        (&name[..cut], &name[cut + 1..])
    };
    h[..base.len().min(100)].copy_from_slice(&base.as_bytes()[..base.len().min(100)]);
    let put = |h: &mut [u8; BLOCK], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    put(&mut h, 100, 8, 0o644);
    put(&mut h, 108, 8, 0);
    put(&mut h, 116, 8, 0);
    put(&mut h, 124, 12, size);
    put(&mut h, 136, 12, mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

/// The zeros that pad a file of `size` bytes to a whole block.
pub fn padding(size: u64) -> Vec<u8> {
    vec![0u8; (BLOCK - (size as usize % BLOCK)) % BLOCK]
}

/// The two zero blocks that end an archive.
pub fn end() -> Vec<u8> {
    vec![0u8; 2 * BLOCK]
}

/// Writes a whole archive of `files` (for tests).
pub async fn write_all<W: AsyncWrite + Unpin>(
    out: &mut W,
    files: &[(&str, &[u8])],
) -> std::io::Result<()> {
    for (name, data) in files {
        out.write_all(&header(name, data.len() as u64, 0)).await?;
        out.write_all(data).await?;
        out.write_all(&padding(data.len() as u64)).await?;
    }
    out.write_all(&end()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        write_all(&mut out, files).await.unwrap();
        out
    }

    #[tokio::test]
    async fn reads_what_it_writes() {
        let long = format!("{}/fil.pdf", "d".repeat(120));
        let bytes = archive(&[("a.json", b"{}"), (&long, &[7u8; 1500])]).await;
        let mut r = TarReader::new(bytes.as_slice());
        let a = r.next().await.unwrap().unwrap();
        assert_eq!(
            a,
            Entry {
                name: "a.json".into(),
                size: 2
            }
        );
        let mut out = Vec::new();
        let sha = r.body(&a, &mut out).await.unwrap();
        assert_eq!(out, b"{}");
        assert_eq!(hex::encode(sha), hex::encode(Sha256::digest(b"{}")));
        let b = r.next().await.unwrap().unwrap();
        assert_eq!((b.name.as_str(), b.size), (long.as_str(), 1500));
        r.body(&b, &mut tokio::io::sink()).await.unwrap();
        assert!(r.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_cut_archive_names_the_file() {
        let bytes = archive(&[("a.pdf", &[1u8; 2000])]).await;
        let mut r = TarReader::new(&bytes[..1200]);
        let a = r.next().await.unwrap().unwrap();
        let e = r.body(&a, &mut tokio::io::sink()).await.unwrap_err();
        assert!(e.to_string().contains("a.pdf (688 of 2000 bytes)"), "{e}");
        let mut r = TarReader::new(&bytes[..300]);
        assert!(matches!(r.next().await, Err(TarError::Truncated(_))));
    }

    #[tokio::test]
    async fn a_damaged_header_is_refused() {
        let mut bytes = archive(&[("a.pdf", b"x")]).await;
        bytes[3] ^= 1;
        let e = TarReader::new(bytes.as_slice()).next().await.unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
    }
}
