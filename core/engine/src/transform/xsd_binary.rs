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
use libxml::tree::{Document, Node, NodeType};

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
    /// Reads the schema at `main` and every file it includes, imports or redefines.
    /// A set that cannot be read, or that has identity constraints or redefinitions,
    /// gets no stand-ins at all.
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
        let mut names: HashSet<(Option<String>, String)> = HashSet::new();
        let mut not: HashSet<(Option<String>, String)> = HashSet::new();
        for d in declared {
            if d.plain_binary && !not.contains(&d.name) {
                names.insert(d.name);
            } else {
                names.remove(&d.name);
                not.insert(d.name);
            }
        }
        Some(Self { names })
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Checks the long base64 content of this set's binary elements in `doc` and puts the
    /// stand-in in its place. Returns how many were replaced.
    pub fn stand_in(&self, doc: &Document) -> usize {
        if self.is_empty() {
            return 0;
        }
        let mut replaced = 0;
        let mut stack: Vec<Node> = doc.get_root_element().into_iter().collect();
        while let Some(mut element) = stack.pop() {
            let mut child = element.get_first_child();
            let mut only_text = None;
            let mut children = 0;
            while let Some(c) = child {
                children += 1;
                match c.get_type() {
                    Some(NodeType::ElementNode) => stack.push(c.clone()),
                    Some(NodeType::TextNode) | Some(NodeType::CDataSectionNode) => {
                        only_text = Some(c.clone())
                    }
                    _ => {}
                }
                child = c.get_next_sibling();
            }
            if children != 1 || only_text.is_none() || !self.is_binary(&element) {
                continue;
            }
            let text = element.get_content();
            if text.len() >= STAND_IN_FROM
                && plain_base64(text.as_bytes())
                && element.set_content(STAND_IN).is_ok()
            {
                replaced += 1;
            }
        }
        replaced
    }

    fn is_binary(&self, element: &Node) -> bool {
        if element.get_property_ns("type", XSI).is_some() {
            return false;
        }
        let namespace = element.get_namespace().map(|n| n.get_href());
        self.names.contains(&(namespace, element.get_name()))
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
/// alphabet, `=` and white space. False for anything else, whatever libxml2 would say:
/// such text is left to libxml2.
pub fn plain_base64(text: &[u8]) -> bool {
    let mut digits = 0usize;
    let mut pad = 0usize;
    let mut last = 0u8;
    let mut chunks = text.chunks_exact(16);
    for chunk in &mut chunks {
        // Sixteen digits at once, the common case before any padding.
        let mut any = 0u8;
        for &b in chunk {
            any |= CLASS[b as usize];
        }
        if any < PAD && pad == 0 {
            digits += 16;
            last = CLASS[chunk[15] as usize];
            continue;
        }
        for &b in chunk {
            if !step(b, &mut digits, &mut pad, &mut last) {
                return false;
            }
        }
    }
    for &b in chunks.remainder() {
        if !step(b, &mut digits, &mut pad, &mut last) {
            return false;
        }
    }
    // RFC 2045's end: two pad characters leave 4 spare bits, one leaves 2; both zero.
    match pad {
        0 => digits.is_multiple_of(4),
        1 => digits % 4 == 3 && last & 3 == 0,
        2 => digits % 4 == 2 && last & 15 == 0,
        _ => false,
    }
}

fn step(b: u8, digits: &mut usize, pad: &mut usize, last: &mut u8) -> bool {
    match CLASS[b as usize] {
        v if v < PAD => {
            // A digit after padding.
            if *pad > 0 {
                return false;
            }
            *digits += 1;
            *last = v;
        }
        PAD => *pad += 1,
        SPACE => {}
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn plain_base64_takes_what_an_encoder_writes() {
        for n in 0..70 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert!(plain_base64(encode(&bytes).as_bytes()), "{n} bytes");
        }
        // Lines, as MIME writes them.
        let wrapped = encode(&[7u8; 300])
            .as_bytes()
            .chunks(76)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        assert!(plain_base64(wrapped.as_bytes()));
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
            assert!(!plain_base64(bad.as_bytes()), "{bad}");
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
        let xml = format!(
            r#"<r xmlns="urn:t"><content>{long}</content><content>AAAA</content><content>{long}!</content><blob xsi:type="xs:base64Binary" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{long}</blob><local xmlns="">{long}</local><twice>{long}</twice></r>"#
        );
        let doc = Parser::default().parse_string(&xml).unwrap();
        assert_eq!(binary.stand_in(&doc), 2, "the first content and local");
        let out = doc.to_string();
        assert!(
            out.contains("<content>AAAA</content><content>AAAA</content>"),
            "{out}"
        );
        assert!(out.contains(&format!("{long}!</content>")));
        assert!(
            out.contains(&format!("{long}</blob>")),
            "xsi:type is left alone"
        );
        assert!(out.contains(r#"<local xmlns="">AAAA</local>"#));
        assert!(out.contains(&format!("<twice>{long}</twice>")));
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
