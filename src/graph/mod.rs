//! The knowledge graph: extracted triples → RDF in an Oxigraph store on disk → SPARQL and
//! exports.
//!
//! `normalize` (entity text → node key), `rdf` (one named graph per report: entity nodes,
//! mentions, relation assertions with confidence and PROV-O provenance), `shacl` (the shapes
//! of ontology/shapes.ttl, checked before anything is written), `store` (bulk load or per-report
//! transactional replacement), `retract` (report graphs out, for withdrawn reports), `query`
//! (read-only SPARQL, W3C result formats), `export` (N-Triples, N-Quads, Turtle, streamed).
//! The ontology (ontology/cbrrel.ttl) and the class and property IRIs (ontology/casmed.toml)
//! are data, compiled in as the defaults and overridable.

pub mod export;
pub mod normalize;
pub mod query;
pub mod rdf;
pub mod retract;
pub mod shacl;
pub mod store;

pub use export::{export, ExportFormat, ExportSummary};
pub use normalize::normalize;
pub use query::{run_query, ResultFormat};
pub use rdf::{ReportInput, RunInfo, TripleInput, Vocabulary};
pub use retract::{retract, RetractSummary};
pub use shacl::Shapes;
pub use store::{load, stored_hashes, LoadSummary};

/// The ontology shipped in ontology/cbrrel.ttl.
pub const ONTOLOGY_TTL: &str = include_str!("../../ontology/cbrrel.ttl");
/// The SHACL shapes shipped in ontology/shapes.ttl.
pub const SHAPES_TTL: &str = include_str!("../../ontology/shapes.ttl");

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("store: {0}")]
    Store(String),
    #[error("ontology: {0}")]
    Ontology(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{count} SHACL violations (nothing was loaded); first: {}", first.join("; "))]
    Shacl { count: usize, first: Vec<String> },
    #[error("SPARQL: {0}")]
    Query(String),
    /// Writing results or an export failed (a full disk, a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    #[error("the store is read-only here: `cbrrel query` runs SELECT, ASK, CONSTRUCT and DESCRIBE, not SPARQL UPDATE (the store changes only through `cbrrel load`)")]
    ReadOnly,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use oxigraph::model::{GraphName, Literal, NamedNode, Term};
    use oxigraph::store::Store;

    /// ontology/cbrrel.ttl and ontology/casmed.toml say the same: every class and property
    /// the schema names is declared, with the schema's labels, domain and range.
    #[test]
    fn ontology_file_agrees_with_the_schema() {
        let schema = Schema::casmed();
        let vocab = Vocabulary::from_schema(&schema).unwrap();
        let store = Store::new().unwrap();
        store.extend(store::turtle_quads(ONTOLOGY_TTL, GraphName::DefaultGraph).unwrap()).unwrap();
        let ask = |s: &NamedNode, p: &str, o: Term| {
            store.quads_for_pattern(Some(s.as_ref().into()), Some(NamedNode::new(p).unwrap().as_ref()), Some(o.as_ref()), None).next().is_some()
        };
        const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
        const LABEL: &str = "http://www.w3.org/2000/01/rdf-schema#label";
        let owl = |l: &str| Term::from(NamedNode::new(format!("http://www.w3.org/2002/07/owl#{l}")).unwrap());
        for e in &schema.entities {
            let c = vocab.class(&e.code).unwrap();
            assert!(ask(c, RDF_TYPE, owl("Class")), "{c} is not an owl:Class");
            assert!(ask(c, LABEL, Literal::new_language_tagged_literal(&e.zh, "zh").unwrap().into()), "{c} lacks label {}@zh", e.zh);
            assert!(ask(c, LABEL, Literal::new_language_tagged_literal(&e.en, "en").unwrap().into()), "{c} lacks label {}@en", e.en);
        }
        for r in &schema.relations {
            let p = vocab.property(&r.code).unwrap();
            assert!(ask(p, RDF_TYPE, owl("ObjectProperty")), "{p}");
            assert!(ask(p, LABEL, Literal::new_language_tagged_literal(&r.zh, "zh").unwrap().into()), "{p} lacks {}@zh", r.zh);
            assert!(ask(p, LABEL, Literal::new_language_tagged_literal(&r.en, "en").unwrap().into()), "{p} lacks {}@en", r.en);
            let domain = Term::from(vocab.class(&r.head).unwrap().clone());
            let range = Term::from(vocab.class(&r.tail).unwrap().clone());
            assert!(ask(p, "http://www.w3.org/2000/01/rdf-schema#domain", domain), "{p} domain");
            assert!(ask(p, "http://www.w3.org/2000/01/rdf-schema#range", range), "{p} range");
        }
        // Every cb: term the RDF writer uses is declared in the ontology.
        for local in [
            "Report",
            "Mention",
            "RelationAssertion",
            "ExtractionRun",
            "Entity",
            "reportId",
            "contentHash",
            "patientPseudoId",
            "department",
            "modelId",
            "normalizedText",
            "mentionOf",
            "inReport",
            "text",
            "start",
            "end",
            "confidence",
            "subjectMention",
            "objectMention",
        ] {
            let n = vocab.term(local);
            assert!(store.quads_for_pattern(Some(n.as_ref().into()), None, None, None).next().is_some(), "{n} not declared in cbrrel.ttl");
        }
    }

    #[test]
    fn shipped_shapes_compile_and_shipped_queries_parse() {
        let shapes = Shapes::parse(SHAPES_TTL).unwrap();
        assert!(shapes.len() >= 16, "{} checks", shapes.len());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ontology/queries");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let _ = query::parse_read_only(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
        assert!(n >= 6);
        assert!(matches!(query::parse_read_only("INSERT DATA { <http://a> <http://b> <http://c> }"), Err(GraphError::ReadOnly)));
        assert!(matches!(query::parse_read_only("SELEKT nonsense"), Err(GraphError::Query(_))));
    }
}
