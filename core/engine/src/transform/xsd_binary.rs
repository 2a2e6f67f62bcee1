//! Large `xs:base64Binary` content, checked quickly.
//!
//! libxml2 checks a base64Binary value one character at a time through a chain of
//! comparisons, about 7 ns a character. A letter's 200 KB PDF is 270 KB of base64, so
//! that check was most of what a MeMo's validation cost. This module finds the elements a
//! schema set declares, every time, as plain `xs:base64Binary` (no facets, no fixed
//! value, no identity constraint in the set). Before libxml2 validates a document, the
//! text of each such element that is long and plainly valid base64 is checked here and
//! replaced by a short stand-in with the same outcome (`AAAA`). Anything this module is
//! not sure of (another character, bad padding, `xsi:type`, mixed content) is left to
//! libxml2 as it stands, so its verdict and its messages stay libxml2's own.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use libxml::parser::Parser;
use libxml::tree::Node;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

const XS: &str = "http://www.w3.org/2001/XMLSchema";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Text shorter than this goes to libxml2 as it is: the stand-in saves too little.
const STAND_IN_FROM: usize = 1024;

/// A valid base64Binary value, standing in for a long one that has been checked.
const STAND_IN: &str = "AAAA";

/// The elements of a schema set whose every declaration is `type="xs:base64Binary"`,
/// by namespace (None: unqualified) and local name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BinaryElements {
    names: HashSet<(Option<String>, String)>,
}

/// What one declaration of a name says.
struct Declared {
    name: (Option<String>, String),
    plain_binary: bool,
}

impl BinaryElements {
    /// Reads the schema at `main` and every file it includes or imports. A set that
    /// cannot be read, or that has identity constraints or redefinitions, gets no
    /// stand-ins at all.
    pub fn of(main: &Path) -> Self {
        Self::read(main).unwrap_or_default()
    }

    fn read(main: &Path) -> Option<Self> {
        let mut declared: Vec<Declared> = Vec::new();
        let mut todo: Vec<(PathBuf, Option<String>)> = vec![(main.to_path_buf(), None)];
        let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
        while let Some((path, includer_namespace)) = todo.pop() {
            if !seen.insert(std::path::absolute(&path).ok()?) {
                continue;
            }
            let doc = Parser::default().parse_file(path.to_str()?).ok()?;
            let root = doc.get_root_element()?;
            if !in_xs(&root, "schema") {
                return None;
            }
            // A schema document without a target namespace takes its includer's.
            let target = root.get_property("targetNamespace").or(includer_namespace);
            let qualified = root.get_property("elementFormDefault").as_deref() == Some("qualified");
            let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
            let schema = Schema { target, qualified };
            schema.walk(&root, true, &dir, &mut declared, &mut todo)?;
        }
        // A name declared once as anything else is not binary everywhere.
        let other: HashSet<&(Option<String>, String)> = declared
            .iter()
            .filter(|d| !d.plain_binary)
            .map(|d| &d.name)
            .collect();
        let names = declared
            .iter()
            .filter(|d| d.plain_binary && !other.contains(&d.name))
            .map(|d| d.name.clone())
            .collect();
        Some(Self { names })
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The document with the long base64 content of this set's binary elements checked
    /// and a stand-in in its place, or None when there is nothing to replace (or the
    /// document is one to leave to libxml2 whole: not well-formed, or with a DTD).
    /// One streaming pass; a replaced value keeps its line breaks, so libxml2's line
    /// numbers still point into the original.
    pub fn stand_in(&self, xml: &[u8]) -> Option<Vec<u8>> {
        if self.is_empty() || xml.len() < STAND_IN_FROM {
            return None;
        }
        let mut reader = NsReader::from_reader(xml);
        // Inside a binary element, and its text so far (a span of `xml`).
        let mut candidate = false;
        let mut text: Option<(usize, usize)> = None;
        // Each value to replace, and its line breaks.
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        loop {
            let (namespace, event) = reader.read_resolved_event().ok()?;
            match event {
                Event::Start(e) => {
                    let namespace = match namespace {
                        ResolveResult::Bound(ns) => {
                            Some(std::str::from_utf8(ns.0).ok()?.to_string())
                        }
                        ResolveResult::Unbound => None,
                        ResolveResult::Unknown(_) => return None,
                    };
                    let local = std::str::from_utf8(e.local_name().into_inner()).ok()?;
                    candidate = self.names.contains(&(namespace, local.to_string()))
                        && !has_xsi_type(&reader, &e)?;
                    text = None;
                }
                Event::Text(t) if candidate && text.is_none() => text = span_of(xml, &t),
                Event::End(_) => {
                    if let Some((a, b)) = text.filter(|_| candidate)
                        && b - a >= STAND_IN_FROM
                        && let Some(lines) = plain_base64(&xml[a..b])
                    {
                        spans.push((a, b, lines));
                    }
                    candidate = false;
                    text = None;
                }
                Event::DocType(_) => return None,
                Event::Eof => break,
                // Anything else within the element (a second text, a reference, CDATA,
                // a comment, a child): not plain content; leave it to libxml2.
                _ => {
                    candidate = false;
                    text = None;
                }
            }
        }
        if spans.is_empty() {
            return None;
        }
        let replaced: usize = spans.iter().map(|(a, b, _)| b - a).sum();
        let mut out = Vec::with_capacity(xml.len() - replaced + 64 * spans.len());
        let mut at = 0;
        for (a, b, lines) in spans {
            out.extend_from_slice(&xml[at..a]);
            out.extend_from_slice(STAND_IN.as_bytes());
            out.resize(out.len() + lines, b'\n');
            at = b;
        }
        out.extend_from_slice(&xml[at..]);
        Some(out)
    }
}

struct Schema {
    target: Option<String>,
    qualified: bool,
}

impl Schema {
    /// Collects the element declarations under `node` and the files it refers to.
    /// None when the set has something that makes a stand-in unsafe.
    fn walk(
        &self,
        node: &Node,
        top: bool,
        dir: &Path,
        declared: &mut Vec<Declared>,
        todo: &mut Vec<(PathBuf, Option<String>)>,
    ) -> Option<()> {
        for child in node.get_child_elements() {
            let name = child.get_name();
            if !in_xs(&child, &name) {
                continue;
            }
            match name.as_str() {
                // The value would matter beyond its type.
                "unique" | "key" | "keyref" | "redefine" | "override" => return None,
                "include" | "import" => {
                    if let Some(location) = child.get_property("schemaLocation") {
                        let inherited = (name == "include").then(|| self.target.clone());
                        todo.push((dir.join(location), inherited.flatten()));
                    }
                    continue;
                }
                "element" => {
                    if let Some(local) = child.get_property("name") {
                        let qualified = top
                            || match child.get_property("form").as_deref() {
                                Some(form) => form == "qualified",
                                None => self.qualified,
                            };
                        let namespace = if qualified { self.target.clone() } else { None };
                        declared.push(Declared {
                            name: (namespace, local),
                            plain_binary: child.get_property("fixed").is_none()
                                && child
                                    .get_property("type")
                                    .is_some_and(|t| is_xs_base64(&child, &t)),
                        });
                    }
                }
                _ => {}
            }
            self.walk(&child, false, dir, declared, todo)?;
        }
        Some(())
    }
}

/// Whether the element says `xsi:type`; None if its attributes are not well-formed.
fn has_xsi_type(reader: &NsReader<&[u8]>, e: &BytesStart) -> Option<bool> {
    for attribute in e.attributes() {
        let attribute = attribute.ok()?;
        let (namespace, local) = reader.resolve_attribute(attribute.key);
        if local.into_inner() == b"type"
            && matches!(namespace, ResolveResult::Bound(ns) if ns.0 == XSI.as_bytes())
        {
            return Some(true);
        }
    }
    Some(false)
}

/// Where a text event's bytes lie in `xml` (they are borrowed from it).
fn span_of(xml: &[u8], text: &BytesText) -> Option<(usize, usize)> {
    let bytes: &[u8] = text;
    let start = (bytes.as_ptr() as usize).checked_sub(xml.as_ptr() as usize)?;
    (start + bytes.len() <= xml.len()).then_some((start, start + bytes.len()))
}

fn in_xs(node: &Node, local: &str) -> bool {
    node.get_name() == local && node.get_namespace().is_some_and(|n| n.get_href() == XS)
}

/// Whether the QName `type` (as written on `node`) is XML Schema's base64Binary.
fn is_xs_base64(node: &Node, qname: &str) -> bool {
    let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
    if local != "base64Binary" {
        return false;
    }
    let uri = if prefix.is_empty() {
        default_namespace(node)
    } else {
        node.lookup_namespace_uri(prefix)
    };
    uri.as_deref() == Some(XS)
}

fn default_namespace(node: &Node) -> Option<String> {
    let mut at = Some(node.clone());
    while let Some(n) = at {
        if let Some(ns) = n
            .get_namespace_declarations()
            .into_iter()
            .find(|ns| ns.get_prefix().is_empty())
        {
            return Some(ns.get_href());
        }
        at = n.get_parent();
    }
    None
}

/// What a byte is in base64 text: its value (0–63), padding, white space, or other.
const PAD: u8 = 64;
const SPACE: u8 = 65;
const OTHER: u8 = 0xff;

static CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'=' as usize] = PAD;
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table[b'\r' as usize] = SPACE;
    table
};

/// Whether `text` is base64 that libxml2 accepts as base64Binary, made only of the
/// alphabet, `=` and white space: its number of line breaks if so. None for anything
/// else, whatever libxml2 would say: such text is left to libxml2.
pub fn plain_base64(text: &[u8]) -> Option<usize> {
    let mut digits = 0usize;
    let mut pad = 0usize;
    let mut last = 0u8;
    let mut lines = 0usize;
    let mut chunks = text.chunks_exact(64);
    for chunk in &mut chunks {
        // Sixty-four digits at once, the common case before any padding: comparisons
        // the compiler turns into vector instructions, rather than a table per byte.
        if pad == 0 && chunk.iter().fold(true, |all, &b| all & is_digit(b)) {
            digits += 64;
            last = CLASS[chunk[63] as usize];
            continue;
        }
        for &b in chunk {
            step(b, &mut digits, &mut pad, &mut last, &mut lines)?;
        }
    }
    for &b in chunks.remainder() {
        step(b, &mut digits, &mut pad, &mut last, &mut lines)?;
    }
    // RFC 2045's end: two pad characters leave 4 spare bits, one leaves 2; both zero.
    let whole = match pad {
        0 => digits.is_multiple_of(4),
        1 => digits % 4 == 3 && last & 3 == 0,
        2 => digits % 4 == 2 && last & 15 == 0,
        _ => false,
    };
    whole.then_some(lines)
}

fn is_digit(b: u8) -> bool {
    (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'+')
        | (b == b'/')
}

fn step(
    b: u8,
    digits: &mut usize,
    pad: &mut usize,
    last: &mut u8,
    lines: &mut usize,
) -> Option<()> {
    match CLASS[b as usize] {
        v if v < PAD => {
            // A digit after padding.
            if *pad > 0 {
                return None;
            }
            *digits += 1;
            *last = v;
        }
        PAD => *pad += 1,
        SPACE => *lines += usize::from(b == b'\n'),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Base64 in lines of 76, as MIME writes it.
    fn in_lines(base64: &str, newline: &str) -> String {
        base64
            .as_bytes()
            .chunks(76)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect::<Vec<_>>()
            .join(newline)
    }

    #[test]
    fn plain_base64_takes_what_an_encoder_writes() {
        for n in 0..70 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(
                plain_base64(encode(&bytes).as_bytes()),
                Some(0),
                "{n} bytes"
            );
        }
        let wrapped = in_lines(&encode(&[7u8; 300]), "\r\n");
        assert_eq!(
            plain_base64(wrapped.as_bytes()),
            Some(5),
            "400 characters in lines of 76"
        );
    }

    #[test]
    fn plain_base64_leaves_the_rest_to_libxml2() {
        for bad in [
            "AAA",     // not a multiple of four
            "AA=A",    // a digit after padding
            "AAA===",  // three pad characters
            "AB==",    // spare bits not zero
            "AAB=",    // spare bits not zero
            "AA AA!A", // another character
            "AAAAé",
        ] {
            assert_eq!(plain_base64(bad.as_bytes()), None, "{bad}");
        }
    }

    /// A schema set in a temporary directory: `main.xsd` (target `urn:t`, qualified)
    /// includes `more.xsd`, which has no target namespace of its own.
    fn schema_set() -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("kp-xsd-binary-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("more.xsd"),
            r#"<schema xmlns="http://www.w3.org/2001/XMLSchema"><element name="blob" type="base64Binary"/><element name="note" type="string"/></schema>"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("main.xsd"),
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t" elementFormDefault="qualified">
  <xs:include schemaLocation="more.xsd"/>
  <xs:element name="r"><xs:complexType><xs:sequence>
    <xs:element name="content" type="xs:base64Binary" maxOccurs="unbounded"/>
    <xs:element ref="t:blob" minOccurs="0"/>
    <xs:element name="local" form="unqualified" type="xs:base64Binary" minOccurs="0"/>
    <xs:element name="twice" type="xs:base64Binary" minOccurs="0"/>
    <xs:element name="pinned" type="xs:base64Binary" fixed="AAAA" minOccurs="0"/>
  </xs:sequence></xs:complexType></xs:element>
  <xs:element name="twice" type="xs:string"/>
</xs:schema>"#,
        )
        .unwrap();
        (dir.join("main.xsd"), dir)
    }

    #[test]
    fn the_set_names_the_elements_declared_only_as_base64_binary() {
        let (main, dir) = schema_set();
        let binary = BinaryElements::of(&main);
        let t = |n: &str| (Some("urn:t".to_string()), n.to_string());
        let mut names: Vec<_> = binary.names.iter().cloned().collect();
        names.sort();
        // `twice` is also a string, `pinned` has a fixed value, `note` is a string; the
        // included file's `blob` takes the includer's namespace; `local` is unqualified.
        assert_eq!(
            names,
            vec![(None, "local".to_string()), t("blob"), t("content")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn identity_constraints_turn_stand_ins_off() {
        let dir = std::env::temp_dir().join(format!("kp-xsd-binary-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("main.xsd"),
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="r"><xs:complexType><xs:sequence><xs:element name="content" type="xs:base64Binary" maxOccurs="2"/></xs:sequence></xs:complexType><xs:unique name="u"><xs:selector xpath="content"/><xs:field xpath="."/></xs:unique></xs:element></xs:schema>"#,
        )
        .unwrap();
        assert!(BinaryElements::of(&dir.join("main.xsd")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_and_plain_base64_is_checked_here_and_replaced() {
        let (main, dir) = schema_set();
        let binary = BinaryElements::of(&main);
        let long = encode(&vec![1u8; 3000]);
        let wrapped = in_lines(&long, "\n");
        let xml = format!(
            r#"<r xmlns="urn:t"><content>{long}</content><content>AAAA</content><content>{long}!</content><content>{long}<!-- x --></content><blob xsi:type="xs:base64Binary" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{long}</blob><local xmlns="">{wrapped}</local><twice>{long}</twice></r>"#
        );
        let out = String::from_utf8(binary.stand_in(xml.as_bytes()).unwrap()).unwrap();
        let lines = wrapped.lines().count() - 1;
        assert_eq!(
            out,
            format!(
                r#"<r xmlns="urn:t"><content>AAAA</content><content>AAAA</content><content>{long}!</content><content>{long}<!-- x --></content><blob xsi:type="xs:base64Binary" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{long}</blob><local xmlns="">AAAA{}</local><twice>{long}</twice></r>"#,
                "\n".repeat(lines)
            ),
            "the first content and local (its line breaks kept); not the invalid one, the \
             mixed one, the one with xsi:type, nor one also declared a string"
        );
        // Nothing to replace, a DTD, or not well-formed: left to libxml2 whole.
        let short = r#"<r xmlns="urn:t"><content>AAAA</content></r>"#.repeat(100);
        assert!(binary.stand_in(short.as_bytes()).is_none());
        let dtd = format!(
            r#"<!DOCTYPE r [<!ENTITY e "x">]><r xmlns="urn:t"><content>{long}</content></r>"#
        );
        assert!(binary.stand_in(dtd.as_bytes()).is_none());
        let broken = format!(r#"<r xmlns="urn:t"><content>{long}</contents></r>"#);
        assert!(binary.stand_in(broken.as_bytes()).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn validation_gives_libxml2s_verdict_with_and_without_stand_ins() {
        let (main, dir) = schema_set();
        let long = encode(&vec![9u8; 3000]);
        let ok = format!(r#"<r xmlns="urn:t"><content>{long}</content></r>"#);
        crate::transform::xsd::validate(&main, ok.as_bytes()).unwrap();
        // Bad padding in a long value: libxml2 judges it and names the element.
        let bad = format!(r#"<r xmlns="urn:t"><content>{long}A=</content></r>"#);
        let e = crate::transform::xsd::validate(&main, bad.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("content"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        // After a replaced value with line breaks, an error's line is still the original's.
        let wrapped = in_lines(&long, "\n");
        let later =
            format!("<r xmlns=\"urn:t\">\n<content>{wrapped}</content>\n<content>A</content></r>");
        let line = later.lines().count();
        let e = crate::transform::xsd::validate(&main, later.as_bytes()).unwrap_err();
        assert!(e.to_string().contains(&format!("line {line}")), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
