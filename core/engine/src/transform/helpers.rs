//! Filters and functions every mapping template can use.
//!
//! Filters: `xml_escape`, `base64_encode`, `base64_decode`, `sha256`,
//! `copenhagen_time(format=...)`. Functions: `uuid()` (random v4),
//! `uuid_v5(name=...)` (stable for the same name), `uuid_v4_from(name=...)` (stable, in
//! v4 form), `short_id(name=..., prefix=..., length=14)` (stable, upper-case letters and
//! digits, for formats whose identifiers are short, such as MedCom's 14), `now()` (UTC,
//! RFC 3339).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use sha2::{Digest, Sha256};
use tera::{Result, Tera, Value};

/// Escapes text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    // Large values (base64 documents) seldom need escaping: copy them whole.
    let Some(first) = first_special(s.as_bytes()) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    let mut rest = &s[first..];
    // Copy the runs between special characters (all ASCII, so byte offsets are char
    // boundaries).
    while let Some(i) = first_special(rest.as_bytes()) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&apos;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out
}

fn special(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')
}

/// Where the first character that XML must escape is. Looks at 64 bytes at a time
/// without stopping early inside a block, which the compiler turns into vector code:
/// a 270 KB base64 document is scanned many times faster than byte by byte.
fn first_special(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let mut offset = 0;
    for block in bytes.chunks(BLOCK) {
        if block.iter().fold(false, |any, &b| any | special(b)) {
            return block.iter().position(|&b| special(b)).map(|i| offset + i);
        }
        offset += block.len();
    }
    None
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn xml_escape_filter(v: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    Ok(Value::String(xml_escape(&as_text(v))))
}

fn base64_encode(v: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    Ok(Value::String(STANDARD.encode(as_text(v))))
}

fn base64_decode(v: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let bytes = STANDARD
        .decode(as_text(v).trim())
        .map_err(|e| tera::Error::msg(format!("base64_decode: not base64: {e}")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| tera::Error::msg("base64_decode: the decoded bytes are not UTF-8 text"))
}

fn sha256(v: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    Ok(Value::String(hex::encode(Sha256::digest(
        as_text(v).as_bytes(),
    ))))
}

/// Renders an RFC 3339 instant in Danish local time, e.g. for MeMo's sending date.
fn copenhagen_time(v: &Value, args: &HashMap<String, Value>) -> Result<Value> {
    let text = as_text(v);
    let instant: DateTime<Utc> = DateTime::parse_from_rfc3339(&text)
        .map_err(|e| {
            tera::Error::msg(format!(
                "copenhagen_time: {text:?} is not an RFC 3339 time: {e}"
            ))
        })?
        .with_timezone(&Utc);
    let format = args
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("%Y-%m-%dT%H:%M:%S%:z");
    Ok(Value::String(
        instant
            .with_timezone(&Copenhagen)
            .format(format)
            .to_string(),
    ))
}

/// Øre (an integer) as kroner with two decimals: 123456 is "1234.56", -5 is "-0.05".
fn kroner(v: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let ore = v
        .as_i64()
        .ok_or_else(|| tera::Error::msg(format!("kroner: {v} is not a whole number of øre")))?;
    let sign = if ore < 0 { "-" } else { "" };
    let abs = ore.unsigned_abs();
    Ok(Value::String(format!(
        "{sign}{}.{:02}",
        abs / 100,
        abs % 100
    )))
}

fn uuid_v4(_: &HashMap<String, Value>) -> Result<Value> {
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

fn uuid_v5(args: &HashMap<String, Value>) -> Result<Value> {
    let name = args
        .get("name")
        .map(as_text)
        .ok_or_else(|| tera::Error::msg("uuid_v5 needs name=..."))?;
    Ok(Value::String(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string(),
    ))
}

/// A UUID in version 4 form derived from `name`: stable for the same name, for formats
/// that demand v4 (MeMo's messageUUID) while redeliveries must keep their id.
fn uuid_v4_from(args: &HashMap<String, Value>) -> Result<Value> {
    let name = args
        .get("name")
        .map(as_text)
        .ok_or_else(|| tera::Error::msg("uuid_v4_from needs name=..."))?;
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(Value::String(
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
    ))
}

/// A short identifier derived from `seed`: `prefix` followed by base-36 digits of the
/// seed's SHA-256, `length` characters in all. Stable for the same seed.
pub fn short_id(prefix: &str, seed: &str, length: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let digest = Sha256::digest(seed.as_bytes());
    let mut n = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
    let mut id = prefix.to_string();
    while id.len() < length {
        id.push(DIGITS[(n % 36) as usize] as char);
        n /= 36;
    }
    id
}

fn short_id_function(args: &HashMap<String, Value>) -> Result<Value> {
    let name = args
        .get("name")
        .map(as_text)
        .ok_or_else(|| tera::Error::msg("short_id needs name=..."))?;
    let prefix = args.get("prefix").map(as_text).unwrap_or_default();
    let length = args.get("length").and_then(Value::as_u64).unwrap_or(14) as usize;
    if length < prefix.len() + 8 || length > prefix.len() + 24 {
        return Err(tera::Error::msg(format!(
            "short_id: length {length} must leave 8 to 24 characters after the prefix {prefix:?}"
        )));
    }
    Ok(Value::String(short_id(&prefix, &name, length)))
}

fn now(_: &HashMap<String, Value>) -> Result<Value> {
    Ok(Value::String(
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ))
}

pub fn register(tera: &mut Tera) {
    tera.register_filter("xml_escape", xml_escape_filter);
    tera.register_filter("base64_encode", base64_encode);
    tera.register_filter("base64_decode", base64_decode);
    tera.register_filter("sha256", sha256);
    tera.register_filter("copenhagen_time", copenhagen_time);
    tera.register_filter("kroner", kroner);
    tera.register_function("uuid", uuid_v4);
    tera.register_function("uuid_v5", uuid_v5);
    tera.register_function("uuid_v4_from", uuid_v4_from);
    tera.register_function("short_id", short_id_function);
    tera.register_function("now", now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escape_finds_specials_anywhere_in_long_values() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        for at in [0, 1, 63, 64, 65, 127, 128, 1000] {
            let mut s = "x".repeat(1001);
            s.replace_range(at..at + 1, "&");
            let escaped = xml_escape(&s);
            assert_eq!(escaped.find("&amp;"), Some(at), "at {at}");
            assert_eq!(escaped.len(), 1005);
        }
        let plain = "Q".repeat(300_000);
        assert_eq!(xml_escape(&plain), plain);
        assert_eq!(xml_escape("æøå <Å>"), "æøå &lt;Å&gt;");
    }

    fn render(src: &str, ctx: serde_json::Value) -> String {
        let mut t = Tera::default();
        register(&mut t);
        t.add_raw_template("t", src).unwrap();
        t.render("t", &tera::Context::from_value(ctx).unwrap())
            .unwrap()
    }

    #[test]
    fn helpers() {
        let out = render(
            "{{ a | xml_escape }}|{{ b | base64_encode }}|{{ c | base64_decode }}|{{ b | sha256 }}",
            serde_json::json!({"a": "<Ø & \"x\">", "b": "abc", "c": "aGVq"}),
        );
        assert_eq!(
            out,
            "&lt;Ø &amp; &quot;x&quot;&gt;|YWJj|hej|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ore_become_kroner_with_two_decimals() {
        let out = render(
            "{{ a | kroner }} {{ b | kroner }} {{ c | kroner }}",
            serde_json::json!({"a": 123456, "b": -5, "c": 100}),
        );
        assert_eq!(out, "1234.56 -0.05 1.00");
    }

    #[test]
    fn copenhagen_time_handles_summer_and_winter() {
        let out = render(
            "{{ w | copenhagen_time }} {{ s | copenhagen_time(format='%d.%m.%Y %H:%M') }}",
            serde_json::json!({"w": "2026-01-15T12:00:00Z", "s": "2026-07-01T22:30:00Z"}),
        );
        assert_eq!(out, "2026-01-15T13:00:00+01:00 02.07.2026 00:30");
    }

    #[test]
    fn uuids() {
        let a = render("{{ uuid_v5(name='x') }}", serde_json::json!({}));
        assert_eq!(a, render("{{ uuid_v5(name='x') }}", serde_json::json!({})));
        let v4 = render("{{ uuid_v4_from(name='m1') }}", serde_json::json!({}));
        assert_eq!(uuid::Uuid::parse_str(&v4).unwrap().get_version_num(), 4);
        assert_eq!(
            v4,
            render("{{ uuid_v4_from(name='m1') }}", serde_json::json!({}))
        );
        assert_ne!(
            render("{{ uuid() }}", serde_json::json!({})),
            render("{{ uuid() }}", serde_json::json!({}))
        );
    }

    #[test]
    fn an_included_text_is_encoded_as_written_not_escaped() {
        let mut tera = crate::transform::new_tera();
        // Included into an escaping template, a text says `safe` to be taken as written.
        tera.add_raw_template("t/text.txt.tera", "{{ x | safe }}")
            .unwrap();
        tera.add_raw_template(
            "t/p.xml.tera",
            "<a>{% filter base64_encode %}{% include \"t/text.txt.tera\" %}{% endfilter %}</a>",
        )
        .unwrap();
        let ctx = tera::Context::from_serialize(serde_json::json!({"x": "a & <b>"})).unwrap();
        let out = tera.render("t/p.xml.tera", &ctx).unwrap();
        use base64::Engine as _;
        let inner = out.trim_start_matches("<a>").trim_end_matches("</a>");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(inner)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "a & <b>");
    }
}
