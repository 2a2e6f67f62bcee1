//! Exclusive XML Canonicalization 1.0, without comments
//! (<http://www.w3.org/2001/10/xml-exc-c14n#>), of a whole document or of one element's
//! subtree, optionally leaving one subtree out (the enveloped-signature transform).
//!
//! A namespace declaration is written where it is visibly used (by the element's own
//! prefix or an attribute's) or listed in the InclusiveNamespaces PrefixList, and only
//! if the nearest written ancestor did not already write the same binding.

use super::dom::{Document, Element, Node, XmlError, escape_attr, escape_text};
use super::ns;

/// What to canonicalize, and how.
#[derive(Clone, Debug, Default)]
pub struct Options<'a> {
    /// Prefixes from an InclusiveNamespaces PrefixList (`#default` for the default one).
    pub inclusive_prefixes: &'a [String],
    /// A subtree left out (the Signature element, for an enveloped signature).
    pub exclude: Option<&'a [usize]>,
}

/// In-scope bindings, innermost last: (prefix, "" for the default namespace; URI).
type Bindings<'a> = Vec<(&'a str, &'a str)>;

fn lookup<'a>(b: &Bindings<'a>, prefix: &str) -> Option<&'a str> {
    b.iter().rev().find(|(p, _)| *p == prefix).map(|(_, u)| *u)
}

/// The canonical form of the element at `path` and its descendants.
pub fn subtree(doc: &Document, path: &[usize], opts: &Options<'_>) -> Result<String, XmlError> {
    let mut scope = Bindings::new();
    for e in doc.lineage(path).iter().take(path.len()) {
        bind(&mut scope, e);
    }
    let el = doc
        .at(path)
        .ok_or_else(|| XmlError::UndeclaredPrefix(format!("no element at {path:?}")))?;
    let mut out = String::with_capacity(2048);
    let mut here = path.to_vec();
    render(
        el,
        &mut here,
        &mut scope,
        &mut Bindings::new(),
        opts,
        &mut out,
    )?;
    Ok(out)
}

/// The canonical form of the whole document (processing instructions around the root
/// kept, comments dropped).
pub fn document(doc: &Document, opts: &Options<'_>) -> Result<String, XmlError> {
    let mut out = String::new();
    for n in &doc.before {
        if let Node::Pi { .. } = n {
            write_pi(n, &mut out);
            out.push('\n');
        }
    }
    out.push_str(&subtree(doc, &[], opts)?);
    for n in &doc.after {
        if let Node::Pi { .. } = n {
            out.push('\n');
            write_pi(n, &mut out);
        }
    }
    Ok(out)
}

fn bind<'a>(scope: &mut Bindings<'a>, e: &'a Element) {
    for (p, uri) in &e.ns_decls {
        scope.push((p.as_deref().unwrap_or(""), uri.as_str()));
    }
}

fn write_pi(n: &Node, out: &mut String) {
    if let Node::Pi { target, data } = n {
        out.push_str("<?");
        out.push_str(target);
        if !data.is_empty() {
            out.push(' ');
            out.push_str(data);
        }
        out.push_str("?>");
    }
}

fn render<'a>(
    el: &'a Element,
    here: &mut Vec<usize>,
    scope: &mut Bindings<'a>,
    rendered: &mut Bindings<'a>,
    opts: &'a Options<'_>,
    out: &mut String,
) -> Result<(), XmlError> {
    let scope_mark = scope.len();
    let rendered_mark = rendered.len();
    bind(scope, el);

    // The prefixes this element visibly uses, sorted ("" for the default one first).
    let mut used: Vec<&str> = Vec::with_capacity(4);
    used.push(el.prefix.as_deref().unwrap_or(""));
    for a in &el.attrs {
        if let Some(p) = &a.prefix
            && p != "xml"
        {
            used.push(p);
        }
    }
    for p in opts.inclusive_prefixes {
        let p = if p == "#default" { "" } else { p.as_str() };
        if p.is_empty() || lookup(scope, p).is_some() {
            used.push(p);
        }
    }
    used.sort_unstable();
    used.dedup();

    let mut decls: Vec<(&str, &str)> = Vec::with_capacity(used.len());
    for p in used {
        let uri = lookup(scope, p).unwrap_or("");
        if p.is_empty() {
            if lookup(rendered, "").unwrap_or("") != uri {
                decls.push((p, uri));
            }
            continue;
        }
        if uri.is_empty() {
            return Err(XmlError::UndeclaredPrefix(p.to_string()));
        }
        if lookup(rendered, p) != Some(uri) {
            decls.push((p, uri));
        }
    }
    rendered.extend(decls.iter().copied());

    let mut attrs: Vec<(&str, &str, &super::dom::Attribute)> = Vec::with_capacity(el.attrs.len());
    for a in &el.attrs {
        let uri = match &a.prefix {
            Some(p) if p == "xml" => ns::XML,
            Some(p) => lookup(scope, p).ok_or_else(|| XmlError::UndeclaredPrefix(p.clone()))?,
            None => "",
        };
        attrs.push((uri, &a.local, a));
    }
    attrs.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));

    out.push('<');
    push_qname(out, el.prefix.as_deref(), &el.local);
    for (p, uri) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attr(uri, out);
        out.push('"');
    }
    for (_, _, a) in &attrs {
        out.push(' ');
        push_qname(out, a.prefix.as_deref(), &a.local);
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    out.push('>');
    for (i, c) in el.children.iter().enumerate() {
        match c {
            Node::Element(child) => {
                here.push(i);
                if opts.exclude != Some(here.as_slice()) {
                    render(child, here, scope, rendered, opts, out)?;
                }
                here.pop();
            }
            Node::Text(t) => escape_text(t, out),
            Node::Comment(_) => {}
            pi @ Node::Pi { .. } => write_pi(pi, out),
        }
    }
    out.push_str("</");
    push_qname(out, el.prefix.as_deref(), &el.local);
    out.push('>');
    scope.truncate(scope_mark);
    rendered.truncate(rendered_mark);
    Ok(())
}

fn push_qname(out: &mut String, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, path: &[usize]) -> String {
        subtree(&Document::parse(xml).unwrap(), path, &Options::default()).unwrap()
    }

    #[test]
    fn only_visibly_used_namespaces_are_written() {
        let xml = r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"><b:x c:attr="1" plain="2"><y xmlns="urn:d"/></b:x></a:root>"#;
        assert_eq!(
            c14n(xml, &[0]),
            r#"<b:x xmlns:b="urn:b" xmlns:c="urn:c" plain="2" c:attr="1"><y xmlns="urn:d"></y></b:x>"#
        );
        assert_eq!(
            c14n(xml, &[]),
            r#"<a:root xmlns:a="urn:a"><b:x xmlns:b="urn:b" xmlns:c="urn:c" plain="2" c:attr="1"><y xmlns="urn:d"></y></b:x></a:root>"#
        );
    }

    #[test]
    fn inclusive_prefixes_are_kept_and_subtrees_excluded() {
        let d = Document::parse(r#"<r xmlns:k="urn:k" xmlns:u="urn:u"><s/><t>x</t></r>"#).unwrap();
        let keep = vec!["k".to_string()];
        let opts = Options {
            inclusive_prefixes: &keep,
            exclude: Some(&[0]),
        };
        assert_eq!(
            subtree(&d, &[], &opts).unwrap(),
            r#"<r xmlns:k="urn:k"><t>x</t></r>"#
        );
    }

    #[test]
    fn text_and_attributes_are_escaped_as_c14n_says() {
        assert_eq!(
            c14n(
                "<a b=\"&lt;&quot;&#9;&#10;&#13;&gt;\">&amp;&lt;&gt;&#13;\"</a>",
                &[]
            ),
            "<a b=\"&lt;&quot;&#x9;&#xA;&#xD;>\">&amp;&lt;&gt;&#xD;\"</a>"
        );
    }

    #[test]
    fn a_default_namespace_is_undone_only_where_one_was_written() {
        assert_eq!(
            c14n(r#"<a xmlns="urn:a"><b xmlns=""><c/></b></a>"#, &[]),
            r#"<a xmlns="urn:a"><b xmlns=""><c></c></b></a>"#
        );
        assert_eq!(
            c14n(r#"<a xmlns="urn:a"><b xmlns=""/></a>"#, &[0]),
            "<b></b>"
        );
    }
}
