//! Logging with CPR numbers masked in every line, whatever wrote them.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Replaces anything shaped like a CPR number (DDMMYY-SSSS or DDMMYYSSSS, not part of a
/// longer run of digits) by its birth date and `-****`.
pub fn mask_cpr(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    let digit = |j: usize| j < b.len() && b[j].is_ascii_digit();
    while i < b.len() {
        let boundary_before = i == 0 || !b[i - 1].is_ascii_digit();
        if boundary_before && (0..6).all(|k| digit(i + k)) {
            let dash = i + 6 < b.len() && b[i + 6] == b'-';
            let tail = if dash { i + 7 } else { i + 6 };
            if (0..4).all(|k| digit(tail + k)) && !digit(tail + 4) {
                out.push_str(&line[i..i + 6]);
                out.push_str("-****");
                i = tail + 4;
                continue;
            }
        }
        let ch = line[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

struct MaskingWriter;

impl Write for MaskingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(mask_cpr(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

struct MakeMasking;

impl<'a> MakeWriter<'a> for MakeMasking {
    type Writer = MaskingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter
    }
}

pub fn init() {
    let filter =
        EnvFilter::try_from_env("KNUDEPUNKT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MakeMasking)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::mask_cpr;

    #[test]
    fn masks_cpr_shapes_only() {
        assert_eq!(
            mask_cpr("citizen 010190-1234 asked"),
            "citizen 010190-**** asked"
        );
        assert_eq!(mask_cpr("cpr=0101901234,"), "cpr=010190-****,");
        assert_eq!(
            mask_cpr("id 12345678901234 stays"),
            "id 12345678901234 stays"
        );
        assert_eq!(mask_cpr("Ærø 2026-11-27"), "Ærø 2026-11-27");
    }
}
