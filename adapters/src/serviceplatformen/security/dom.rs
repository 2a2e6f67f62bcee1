//! A small XML tree: enough to canonicalize, sign and verify, and to write the document
//! back as it was, but with new digest and signature values. Parsed with quick-xml;
//! entity and character references are resolved, line ends and attribute whitespace
//! normalized as an XML processor must.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("line {line}, column {column}: {reason}")]
    Malformed {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("the document has no root element")]
    NoRoot,
    #[error("the document's encoding {0:?} is not one this reader knows")]
    Encoding(String),
    #[error("prefix {0:?} is used but not declared")]
    UndeclaredPrefix(String),
}

/// An element with its own namespace declarations and attributes, in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub prefix: Option<String>,
    pub local: String,
    /// `(None, uri)` declares the default namespace.
    pub ns_decls: Vec<(Option<String>, String)>,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub prefix: Option<String>,
    pub local: String,
    /// The value as the XML processor sees it (references resolved, whitespace normalized).
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    Comment(String),
    Pi { target: String, data: String },
}

/// A parsed document: the root and what stands around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub before: Vec<Node>,
    pub root: Element,
    pub after: Vec<Node>,
}

/// Where an element is: child indices from the root.
pub type Path = Vec<usize>;

fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let upto = &text[..pos.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let column = upto.len() - upto.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

fn split_qname(name: &str) -> (Option<String>, String) {
    match name.split_once(':') {
        Some((p, l)) => (Some(p.to_string()), l.to_string()),
        None => (None, name.to_string()),
    }
}

/// Attribute-value normalization (XML 1.0 §3.3.3) for CDATA attributes: literal
/// whitespace becomes a space before references are resolved.
fn attr_value(raw: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
    let spaced: String = text
        .replace("\r\n", " ")
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    quick_xml::escape::unescape(&spaced)
        .map(|v| v.into_owned())
        .map_err(|e| e.to_string())
}

fn element_from(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|e| e.to_string())?
        .to_string();
    let (prefix, local) = split_qname(&name);
    let mut el = Element {
        prefix,
        local,
        ns_decls: Vec::new(),
        attrs: Vec::new(),
        children: Vec::new(),
    };
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|e| e.to_string())?;
        let key = std::str::from_utf8(a.key.as_ref()).map_err(|e| e.to_string())?;
        let value = attr_value(&a.value)?;
        if key == "xmlns" {
            el.ns_decls.push((None, value));
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            el.ns_decls.push((Some(p.to_string()), value));
        } else {
            let (prefix, local) = split_qname(key);
            el.attrs.push(Attribute {
                prefix,
                local,
                value,
            });
        }
    }
    Ok(el)
}

fn push_text(children: &mut Vec<Node>, text: &str) {
    if let Some(Node::Text(t)) = children.last_mut() {
        t.push_str(text);
    } else {
        children.push(Node::Text(text.to_string()));
    }
}

/// The encoding an XML declaration names, if any.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let decl = head.strip_prefix('\u{feff}').unwrap_or(&head);
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_string())
}

impl Document {
    /// Parses bytes in the encoding the XML declaration names (UTF-8 if none; MedCom
    /// writes ISO-8859-1 and windows-1252).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Document, XmlError> {
        let label = declared_encoding(bytes).unwrap_or_else(|| "UTF-8".into());
        let upper = label.to_ascii_uppercase();
        if matches!(upper.as_str(), "ISO-8859-1" | "ISO_8859-1" | "LATIN1") {
            // Byte for code point (encoding_rs would read it as windows-1252).
            return Self::parse(&bytes.iter().map(|&b| b as char).collect::<String>());
        }
        let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
            .ok_or_else(|| XmlError::Encoding(label.clone()))?;
        let (text, _, malformed) = encoding.decode(bytes);
        if malformed {
            return Err(XmlError::Encoding(format!(
                "{label} (but the bytes are not)"
            )));
        }
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Document, XmlError> {
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(false);
        reader.config_mut().check_end_names = true;
        let malformed = |reader: &Reader<&[u8]>, reason: String| {
            let (line, column) = line_col(text, reader.buffer_position() as usize);
            XmlError::Malformed {
                line,
                column,
                reason,
            }
        };
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut root: Option<Element> = None;
        let mut stack: Vec<Element> = Vec::new();
        loop {
            let event = reader
                .read_event()
                .map_err(|e| malformed(&reader, e.to_string()))?;
            let outside = stack.is_empty();
            let misc = |node: Node,
                        root: &Option<Element>,
                        before: &mut Vec<Node>,
                        after: &mut Vec<Node>| {
                if root.is_none() {
                    before.push(node)
                } else {
                    after.push(node)
                }
            };
            match event {
                Event::Start(s) => {
                    if outside && root.is_some() {
                        return Err(malformed(&reader, "a second root element".into()));
                    }
                    stack.push(element_from(&s).map_err(|e| malformed(&reader, e))?);
                }
                Event::Empty(s) => {
                    let el = element_from(&s).map_err(|e| malformed(&reader, e))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(el)),
                        None if root.is_none() => root = Some(el),
                        None => return Err(malformed(&reader, "a second root element".into())),
                    }
                }
                Event::End(_) => {
                    let el = stack.pop().expect("quick-xml checks end names");
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(el)),
                        None => root = Some(el),
                    }
                }
                Event::Text(t) => {
                    let text = t
                        .xml10_content()
                        .map_err(|e| malformed(&reader, e.to_string()))?;
                    match stack.last_mut() {
                        Some(parent) => push_text(&mut parent.children, &text),
                        None if text.trim().is_empty() => {}
                        None => {
                            return Err(malformed(&reader, "text outside the root element".into()));
                        }
                    }
                }
                Event::CData(c) => {
                    let text = String::from_utf8(c.into_inner().into_owned())
                        .map_err(|e| malformed(&reader, e.to_string()))?;
                    match stack.last_mut() {
                        Some(parent) => {
                            push_text(&mut parent.children, &text.replace("\r\n", "\n"))
                        }
                        None => {
                            return Err(malformed(
                                &reader,
                                "CDATA outside the root element".into(),
                            ));
                        }
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r
                        .resolve_char_ref()
                        .map_err(|e| malformed(&reader, e.to_string()))?
                    {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| malformed(&reader, e.to_string()))?;
                            match name.as_ref() {
                                "amp" => "&".into(),
                                "lt" => "<".into(),
                                "gt" => ">".into(),
                                "quot" => "\"".into(),
                                "apos" => "'".into(),
                                other => {
                                    return Err(malformed(
                                        &reader,
                                        format!("unknown entity &{other};"),
                                    ));
                                }
                            }
                        }
                    };
                    match stack.last_mut() {
                        Some(parent) => push_text(&mut parent.children, &resolved),
                        None => {
                            return Err(malformed(
                                &reader,
                                "a reference outside the root element".into(),
                            ));
                        }
                    }
                }
                Event::Comment(c) => {
                    let text = c
                        .xml10_content()
                        .map_err(|e| malformed(&reader, e.to_string()))?
                        .into_owned();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Comment(text)),
                        None => misc(Node::Comment(text), &root, &mut before, &mut after),
                    }
                }
                Event::PI(p) => {
                    let target = String::from_utf8_lossy(p.target()).into_owned();
                    let data = String::from_utf8_lossy(p.content())
                        .trim_start()
                        .replace("\r\n", "\n");
                    let node = Node::Pi { target, data };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => misc(node, &root, &mut before, &mut after),
                    }
                }
                Event::Decl(_) => {}
                Event::DocType(_) => {
                    return Err(malformed(&reader, "DTDs are not accepted".into()));
                }
                Event::Eof => break,
            }
        }
        if !stack.is_empty() {
            let (line, column) = line_col(text, text.len());
            return Err(XmlError::Malformed {
                line,
                column,
                reason: format!(
                    "<{}> is not closed",
                    stack.last().map(|e| e.local.as_str()).unwrap_or("")
                ),
            });
        }
        let root = root.ok_or(XmlError::NoRoot)?;
        Ok(Document {
            before,
            root,
            after,
        })
    }

    /// The element at `path`.
    pub fn at(&self, path: &[usize]) -> Option<&Element> {
        let mut el = &self.root;
        for &i in path {
            el = match el.children.get(i)? {
                Node::Element(e) => e,
                _ => return None,
            };
        }
        Some(el)
    }

    pub fn at_mut(&mut self, path: &[usize]) -> Option<&mut Element> {
        let mut el = &mut self.root;
        for &i in path {
            el = match el.children.get_mut(i)? {
                Node::Element(e) => e,
                _ => return None,
            };
        }
        Some(el)
    }

    /// The elements on the way to `path`, root first, ending with the element itself.
    pub fn lineage(&self, path: &[usize]) -> Vec<&Element> {
        let mut out = vec![&self.root];
        for k in 1..=path.len() {
            if let Some(e) = self.at(&path[..k]) {
                out.push(e);
            }
        }
        out
    }

    /// The namespace URI `prefix` is bound to at `path` (`None`: the default namespace).
    pub fn namespace_at(&self, path: &[usize], prefix: Option<&str>) -> Option<String> {
        if prefix == Some("xml") {
            return Some(super::ns::XML.to_string());
        }
        self.lineage(path)
            .iter()
            .rev()
            .find_map(|e| {
                e.ns_decls
                    .iter()
                    .find(|(p, _)| p.as_deref() == prefix)
                    .map(|(_, uri)| uri.clone())
            })
            .filter(|uri| !uri.is_empty())
    }

    /// Paths of every element, in document order.
    pub fn paths(&self) -> Vec<Path> {
        fn walk(el: &Element, here: &mut Path, out: &mut Vec<Path>) {
            out.push(here.clone());
            for (i, c) in el.children.iter().enumerate() {
                if let Node::Element(e) = c {
                    here.push(i);
                    walk(e, here, out);
                    here.pop();
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut Vec::new(), &mut out);
        out
    }

    /// The trimmed text of the first element named `local`, in any namespace.
    pub fn text_of(&self, local: &str) -> Option<String> {
        self.paths()
            .into_iter()
            .filter_map(|p| self.at(&p))
            .find(|e| e.local == local)
            .map(|e| e.text().trim().to_string())
    }

    /// The elements named `local` in namespace `uri`, in document order.
    pub fn find(&self, uri: &str, local: &str) -> Vec<Path> {
        fn walk<'a>(
            el: &'a Element,
            here: &mut Path,
            scope: &mut Vec<(Option<&'a str>, &'a str)>,
            want: (&str, &str),
            out: &mut Vec<Path>,
        ) {
            let mark = scope.len();
            scope.extend(el.ns_decls.iter().map(|(p, u)| (p.as_deref(), u.as_str())));
            if el.local == want.1 {
                let prefix = el.prefix.as_deref();
                let uri = scope
                    .iter()
                    .rev()
                    .find(|(p, _)| *p == prefix)
                    .map(|(_, u)| *u);
                if uri == Some(want.0) {
                    out.push(here.clone());
                }
            }
            for (i, c) in el.children.iter().enumerate() {
                if let Node::Element(e) = c {
                    here.push(i);
                    walk(e, here, scope, want, out);
                    here.pop();
                }
            }
            scope.truncate(mark);
        }
        let mut out = Vec::new();
        walk(
            &self.root,
            &mut Vec::new(),
            &mut Vec::new(),
            (uri, local),
            &mut out,
        );
        out
    }

    /// The element whose `Id`, `ID` or `wsu:Id` attribute is `id`.
    pub fn by_id(&self, id: &str) -> Option<Path> {
        fn walk(el: &Element, here: &mut Path, id: &str) -> bool {
            if el
                .attrs
                .iter()
                .any(|a| (a.local == "Id" || a.local == "ID") && a.value == id)
            {
                return true;
            }
            for (i, c) in el.children.iter().enumerate() {
                if let Node::Element(e) = c {
                    here.push(i);
                    if walk(e, here, id) {
                        return true;
                    }
                    here.pop();
                }
            }
            false
        }
        let mut here = Vec::new();
        walk(&self.root, &mut here, id).then_some(here)
    }

    /// Writes the document back: declarations and attributes as they were, text escaped.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        for n in &self.before {
            write_node(&mut out, n);
            out.push('\n');
        }
        write_element(&mut out, &self.root);
        for n in &self.after {
            out.push('\n');
            write_node(&mut out, n);
        }
        out
    }
}

impl Element {
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }

    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.local == local)
            .map(|a| a.value.as_str())
    }

    /// The element's text (its text children, joined).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Replaces the element's content with `text`.
    pub fn set_text(&mut self, text: &str) {
        self.children = vec![Node::Text(text.to_string())];
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> + '_ {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The child elements with `local` name (any namespace).
    pub fn elements_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children_named(local).map(|(_, e)| e)
    }

    /// The trimmed text at a path of child names (the first child of each name), if
    /// there is any.
    pub fn text_at(&self, path: &[&str]) -> Option<String> {
        let mut at = self;
        for local in path {
            at = at.elements_named(local).next()?;
        }
        let t = at.text().trim().to_string();
        (!t.is_empty()).then_some(t)
    }

    /// The child elements with `local` name (any namespace), with their indices.
    pub fn children_named<'a>(
        &'a self,
        local: &'a str,
    ) -> impl Iterator<Item = (usize, &'a Element)> + 'a {
        self.children
            .iter()
            .enumerate()
            .filter_map(move |(i, c)| match c {
                Node::Element(e) if e.local == local => Some((i, e)),
                _ => None,
            })
    }
}

/// Escapes text content as canonical XML writes it.
pub(crate) fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Escapes an attribute value as canonical XML writes it.
pub(crate) fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn write_node(out: &mut String, n: &Node) {
    match n {
        Node::Element(e) => write_element(out, e),
        Node::Text(t) => escape_text(t, out),
        Node::Comment(c) => {
            out.push_str("<!--");
            out.push_str(c);
            out.push_str("-->");
        }
        Node::Pi { target, data } => {
            out.push_str("<?");
            out.push_str(target);
            if !data.is_empty() {
                out.push(' ');
                out.push_str(data);
            }
            out.push_str("?>");
        }
    }
}

fn write_element(out: &mut String, e: &Element) {
    out.push('<');
    out.push_str(&e.qname());
    for (p, uri) in &e.ns_decls {
        match p {
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        escape_attr(uri, out);
        out.push('"');
    }
    for a in &e.attrs {
        out.push(' ');
        if let Some(p) = &a.prefix {
            out.push_str(p);
            out.push(':');
        }
        out.push_str(&a.local);
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &e.children {
        write_node(out, c);
    }
    out.push_str("</");
    out.push_str(&e.qname());
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_whitespace_and_namespaces() {
        let d = Document::parse(
            "<?xml version=\"1.0\"?>\r\n<a xmlns=\"urn:a\" xmlns:b=\"urn:b\" b:x=\"1\r\n2&#xA;3\">t&amp;&#x41;<b:c>&lt;<![CDATA[<x>]]></b:c><d/></a>",
        )
        .unwrap();
        assert_eq!(d.root.attrs[0].value, "1 2\n3");
        assert_eq!(d.root.text(), "t&A");
        assert_eq!(d.find("urn:b", "c"), vec![vec![1]]);
        assert_eq!(d.namespace_at(&[2], None).as_deref(), Some("urn:a"));
        let Node::Element(c) = &d.root.children[1] else {
            panic!()
        };
        assert_eq!(c.text(), "<<x>");
        let again = Document::parse(&d.to_xml()).unwrap();
        assert_eq!(again, d);
    }

    #[test]
    fn malformed_xml_names_line_and_column() {
        let err = Document::parse("<a>\n  <b></c>\n</a>").unwrap_err();
        assert!(matches!(err, XmlError::Malformed { line: 2, .. }), "{err}");
        assert!(matches!(
            Document::parse("<a>"),
            Err(XmlError::Malformed { .. })
        ));
        assert!(matches!(
            Document::parse("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"),
            Err(XmlError::Malformed { .. })
        ));
    }
}
