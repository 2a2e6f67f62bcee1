//! Our exclusive canonicalization against libxml2's, on the namespace-heavy official
//! documents in ../shared/formats: the whole document and every element's subtree.

use std::path::PathBuf;

use knudepunkt_adapters::serviceplatformen::security::c14n::{self, Options};
use knudepunkt_adapters::serviceplatformen::security::dom::Document;
use libxml::parser::Parser;
use libxml::tree::Node;
use libxml::tree::c14n::{CanonicalizationMode, CanonicalizationOptions};

fn formats() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/formats")
}

fn libxml2_options() -> CanonicalizationOptions {
    CanonicalizationOptions {
        mode: CanonicalizationMode::ExclusiveCanonical1_0,
        with_comments: false,
        inclusive_ns_prefixes: vec![],
    }
}

fn elements_in_order(node: &Node, out: &mut Vec<Node>) {
    out.push(node.clone());
    for child in node.get_child_elements() {
        elements_in_order(&child, out);
    }
}

fn compare(relative: &str) -> usize {
    let path = formats().join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ours = Document::parse_bytes(&bytes).unwrap_or_else(|e| panic!("{relative}: {e}"));
    let theirs = Parser::default()
        .parse_file(path.to_str().unwrap())
        .unwrap();

    assert_eq!(
        c14n::document(&ours, &Options::default()).unwrap(),
        theirs.canonicalize(libxml2_options(), None).unwrap(),
        "{relative}: whole document"
    );
    let mut nodes = Vec::new();
    elements_in_order(&theirs.get_root_element().unwrap(), &mut nodes);
    let paths = ours.paths();
    assert_eq!(nodes.len(), paths.len(), "{relative}: element count");
    for (node, p) in nodes.iter_mut().zip(&paths) {
        let mine = c14n::subtree(&ours, p, &Options::default()).unwrap();
        let libxml = node.canonicalize(libxml2_options()).unwrap();
        assert_eq!(
            mine,
            libxml,
            "{relative}: subtree <{}> at {p:?}",
            node.get_name()
        );
    }
    paths.len()
}

#[test]
fn the_sts_token_request_template() {
    assert!(compare("sts-token/SAMLTokenSoapTemplate.xml") > 30);
}

#[test]
fn a_whole_oio_idws_request() {
    assert!(compare("sts-token/oioidws-signed-request-example.xml") > 50);
}

#[test]
fn memo_messages() {
    for f in [
        "MeMo_Minimum_Example.xml",
        "MeMo_NemSMS.xml",
        "MeMo_with_attachment.xml",
    ] {
        compare(&format!("memo/examples/{f}"));
    }
}

#[test]
fn beskedfordeler_envelopes() {
    for f in [
        "externTestBesked.xml",
        "ModtagBeskedInput.xml",
        "vaerdiliste_opret.xml",
        "vaerdiliste_list.xml",
    ] {
        compare(&format!("beskedfordeler/examples/{f}"));
    }
}

#[test]
fn medcom_messages_and_a_request_header() {
    compare("medcom/examples/DIS91_1.xml");
    compare("medcom/examples/CTL03_1.xml");
    compare(
        "sf1500-sf1510/Tekniske specifikationer (v6.0 Services)/v6_0_0_0/xsd/common/RequestHeader-example.xml",
    );
}

#[test]
fn inclusive_prefixes_match_libxml2() {
    let text =
        std::fs::read_to_string(formats().join("sts-token/SAMLTokenSoapTemplate.xml")).unwrap();
    let ours = Document::parse(&text).unwrap();
    let theirs = Parser::default().parse_string(&text).unwrap();
    let prefixes = vec!["wsu".to_string(), "#default".to_string()];
    let mut opts = libxml2_options();
    opts.inclusive_ns_prefixes = prefixes.clone();
    let mut nodes = Vec::new();
    elements_in_order(&theirs.get_root_element().unwrap(), &mut nodes);
    for (node, p) in nodes.iter_mut().zip(ours.paths()) {
        let mine = c14n::subtree(
            &ours,
            &p,
            &Options {
                inclusive_prefixes: &prefixes,
                exclude: None,
            },
        )
        .unwrap();
        assert_eq!(
            mine,
            node.canonicalize(opts.clone()).unwrap(),
            "subtree at {p:?}"
        );
    }
}
