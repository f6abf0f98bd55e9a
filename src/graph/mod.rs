//! The knowledge graph: extracted triples → RDF in an Oxigraph store on disk → SPARQL and
//! exports, in the compact layout of issue 8.
//!
//! `normalize` (entity text → node key), `values` (typed clinical values parsed from an
//! entity's text), `segments` (body-part text → coronary vessel and segment, from
//! ontology/segments.toml), `rdf` (one named graph per report: the report node and, per
//! relation, the asserted triple and one RDF 1.2 provenance node), `entity` (the shared entity
//! nodes and the segment concepts), `counts` (the precomputed aggregates), `shacl` (the shapes
//! of ontology/shapes.ttl and their SPARQL reference check), `validate` (the same shapes checked
//! in Rust before anything is written), `store` (bulk load or per-report transactional
//! replacement with counts), `retract` (report graphs out, for withdrawn reports), `rebuild`
//! (a store of any layout rewritten in this one), `query` (read-only SPARQL, W3C result formats),
//! `export` (N-Triples, N-Quads, Turtle, streamed). The ontology (ontology/cbrrel.ttl), the class
//! and property IRIs (ontology/casmed.toml) and the segment table are data, compiled in as the
//! defaults.

pub mod allocator;
pub mod args;
pub mod counts;
pub mod coverage;
pub mod entity;
pub mod export;
pub mod normalize;
pub mod query;
pub mod ranking;
pub mod rdf;
pub mod rebuild;
pub mod retract;
pub mod segments;
pub mod shacl;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod validate;
pub mod values;

use std::path::PathBuf;

pub use export::{export, ExportFormat, ExportSummary};
pub use normalize::normalize;
pub use query::{run_query, ResultFormat};
pub use rdf::{Provenance, ReportInput, RunInfo, Vocabulary};
pub use rebuild::{rebuild, RebuildSummary};
pub use retract::{retract, RetractSummary};
pub use segments::SegmentTable;
pub use shacl::Shapes;
pub use store::{load, stored_hashes, LoadContext, LoadSummary, Shipped};

/// The ontology shipped in ontology/cbrrel.ttl.
pub const ONTOLOGY_TTL: &str = include_str!("../../ontology/cbrrel.ttl");
/// The SHACL shapes shipped in ontology/shapes.ttl.
pub const SHAPES_TTL: &str = include_str!("../../ontology/shapes.ttl");

/// What can go wrong in the graph stage. Each variant prints one line a data engineer can act
/// on; callers and tests match on the variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The store directory could not be opened (locked by another writer, corrupt, no access).
    #[error("store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: oxigraph::store::StorageError,
    },
    /// Another process holds the store for writing (RocksDB's LOCK file).
    #[error("store {}: another cbrrel process is writing it (a `cbrrel graph`, `load` or `retract` on this store); nothing was written. Wait for it to finish, then run this command again: a re-run resumes where the last one stopped", path.display())]
    Locked { path: PathBuf },
    /// Reading or writing the store failed (disk full, I/O error).
    #[error("store: {0}")]
    Storage(#[from] oxigraph::store::StorageError),
    /// A command that reads a store was pointed at a path without one.
    #[error("{}: no store here (run `cbrrel load` or `cbrrel graph` first)", .0.display())]
    NoStore(PathBuf),
    /// The store was written by another layout: never mixed, migrated by `--rebuild`.
    #[error("store {}: written by {} layout, not layout {}; nothing was written. Migrate it with `cbrrel load --rebuild` (rewrites the store in place from its own report graphs)", path.display(), match found { Some(v) => format!("the version-{v}"), None => "the first (pre-issue-8)".to_owned() }, rdf::LAYOUT_VERSION)]
    OldLayout { path: PathBuf, found: Option<u32> },
    /// The segment table changed since the store's entity nodes were linked.
    #[error("store {}: ontology/segments.toml changed since the store was built, so its segment links and counts are stale; nothing was written. Run `cbrrel load --rebuild`", path.display())]
    TableChanged { path: PathBuf },
    /// The counts graph disagrees with the report graphs.
    #[error("{0}")]
    Inconsistent(String),
    #[error("ontology: {0}")]
    Ontology(String),
    /// An input the graph refuses to build (unknown relation, bad span, …).
    #[error("{0}")]
    Invalid(String),
    #[error("{count} shape violations (nothing was loaded); first: {}", first.join("; "))]
    Shacl { count: usize, first: Vec<String> },
    #[error("SPARQL: {0}")]
    Query(String),
    /// An export file could not be written (it names the file).
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
    /// A query file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The query ran past `cbrrel query --timeout` and was stopped.
    #[error("the query ran past its time limit ({seconds} s) and was stopped; raise it with --timeout SECONDS (0: no limit), or bind more of the pattern (`cbrrel query --explain` shows the plan)")]
    Timeout { seconds: f64 },
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
        store
            .extend(store::turtle_quads(ONTOLOGY_TTL, GraphName::DefaultGraph).unwrap())
            .unwrap();
        let ask = |s: &NamedNode, p: &str, o: Term| {
            store
                .quads_for_pattern(
                    Some(s.as_ref().into()),
                    Some(NamedNode::new(p).unwrap().as_ref()),
                    Some(o.as_ref()),
                    None,
                )
                .next()
                .is_some()
        };
        const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
        const LABEL: &str = "http://www.w3.org/2000/01/rdf-schema#label";
        let owl = |l: &str| {
            Term::from(NamedNode::new(format!("http://www.w3.org/2002/07/owl#{l}")).unwrap())
        };
        for e in &schema.entities {
            let c = vocab.class(&e.code).unwrap();
            assert!(ask(c, RDF_TYPE, owl("Class")), "{c} is not an owl:Class");
            assert!(
                ask(
                    c,
                    LABEL,
                    Literal::new_language_tagged_literal(&e.zh, "zh")
                        .unwrap()
                        .into()
                ),
                "{c} lacks label {}@zh",
                e.zh
            );
            assert!(
                ask(
                    c,
                    LABEL,
                    Literal::new_language_tagged_literal(&e.en, "en")
                        .unwrap()
                        .into()
                ),
                "{c} lacks label {}@en",
                e.en
            );
        }
        for r in &schema.relations {
            let p = vocab.property(&r.code).unwrap();
            assert!(ask(p, RDF_TYPE, owl("ObjectProperty")), "{p}");
            assert!(
                ask(
                    p,
                    LABEL,
                    Literal::new_language_tagged_literal(&r.zh, "zh")
                        .unwrap()
                        .into()
                ),
                "{p} lacks {}@zh",
                r.zh
            );
            assert!(
                ask(
                    p,
                    LABEL,
                    Literal::new_language_tagged_literal(&r.en, "en")
                        .unwrap()
                        .into()
                ),
                "{p} lacks {}@en",
                r.en
            );
            let domain = Term::from(vocab.class(&r.head).unwrap().clone());
            let range = Term::from(vocab.class(&r.tail).unwrap().clone());
            assert!(
                ask(p, "http://www.w3.org/2000/01/rdf-schema#domain", domain),
                "{p} domain"
            );
            assert!(
                ask(p, "http://www.w3.org/2000/01/rdf-schema#range", range),
                "{p} range"
            );
        }
        // Every cb: term a loaded store uses (predicates and classes) is declared in the ontology.
        let dir = tempfile::tempdir().unwrap();
        let kit = testkit::Kit::new();
        let (cx, run) = (kit.cx(), &kit.run);
        let t = |rel, s: (&'static str, &'static str), o: (&'static str, &'static str)| {
            std::borrow::Cow::Owned(crate::extract::TripleRow::between(
                rel,
                (s.0, s.1, (0, 3)),
                (o.0, o.1, (4, 8)),
                0.5,
            ))
        };
        let triples = vec![
            t("BpSy", ("LAD近段", "Bp"), ("狭窄70-80%", "Sy")),
            t("BpSy", ("前降支", "Bp"), ("TIMI血流3级", "Sy")),
            t("BpSy", ("右冠", "Bp"), ("支架内再狭窄", "Sy")),
            t("McBp", ("Firebird2 3.0*18mm支架", "Mc"), ("前降支", "Bp")),
            t("TmMc", ("PCI", "Tm"), ("6F JL4", "Mc")),
            t("TmDo", ("PCI", "Tm"), ("肝素2000U", "Do")),
        ];
        let r = ReportInput {
            report_id: "R",
            content_hash: "h",
            patient_id: Some("P"),
            date: Some("2026-01-01"),
            department: Some("心内科"),
            triples,
            run: None,
        };
        load(dir.path(), &cx, &[r], run).unwrap();
        let loaded = Store::open_read_only(dir.path()).unwrap();
        let mut used = std::collections::BTreeSet::new();
        for q in loaded.iter() {
            let q = q.unwrap();
            if q.predicate.as_str().starts_with(&vocab.ns) {
                used.insert(q.predicate.clone());
            }
            if q.predicate.as_str() == RDF_TYPE {
                if let Term::NamedNode(c) = &q.object {
                    if c.as_str().starts_with(&vocab.ns) {
                        used.insert(c.clone());
                    }
                }
            }
        }
        assert!(used.len() > 30, "{used:?}");
        for n in used {
            assert!(
                store
                    .quads_for_pattern(Some(n.as_ref().into()), None, None, None)
                    .next()
                    .is_some(),
                "{n} not declared in cbrrel.ttl"
            );
        }
    }

    #[test]
    fn shipped_shapes_compile_and_shipped_queries_parse() {
        let shapes = Shapes::parse(SHAPES_TTL).unwrap();
        assert!(shapes.len() >= 40, "{} checks", shapes.len());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ontology/queries");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let _ =
                query::parse_read_only(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
        assert!(n >= 6);
        assert!(matches!(
            query::parse_read_only("INSERT DATA { <http://a> <http://b> <http://c> }"),
            Err(GraphError::ReadOnly)
        ));
        assert!(matches!(
            query::parse_read_only("SELEKT nonsense"),
            Err(GraphError::Query(_))
        ));
    }

    /// The shipped queries answer what they say on a store whose answers are known.
    #[test]
    fn shipped_queries_answer_on_a_crafted_store() {
        let kit = testkit::Kit::new();
        let dir = tempfile::tempdir().unwrap();
        let t = testkit::triple;
        // R1: a proximal-LAD stenosis, a stent, and TIMI 2 after the stent.
        let r1 = vec![
            t("BpSy", ("前降支近段", "Bp", 0), ("狭窄90%", "Sy", 5)),
            t("BpTm", ("前降支近段", "Bp", 0), ("支架植入术", "Tm", 12)),
            t(
                "McBp",
                ("Firebird2 3.0*18mm支架", "Mc", 40),
                ("LAD近段", "Bp", 70),
            ),
            t("BpSy", ("LAD近段", "Bp", 70), ("TIMI血流2级", "Sy", 80)),
        ];
        // R2: a circumflex stenosis, and TIMI 0 before the intervention.
        let r2 = vec![
            t("BpSy", ("回旋支远段", "Bp", 0), ("狭窄80%", "Sy", 5)),
            t("BpSy", ("前降支", "Bp", 20), ("TIMI血流0级", "Sy", 23)),
            t("BpTm", ("前降支", "Bp", 40), ("PCI", "Tm", 43)),
            t("InSy", ("FFR", "In", 60), ("功能性缺血", "Sy", 64)),
        ];
        let report = |id: &'static str, triples: Vec<crate::extract::TripleRow>| ReportInput {
            report_id: id,
            content_hash: id,
            patient_id: Some("P"),
            date: None,
            department: None,
            triples: triples.into_iter().map(std::borrow::Cow::Owned).collect(),
            run: None,
        };
        load(
            dir.path(),
            &kit.cx(),
            &[report("R1", r1), report("R2", r2)],
            &kit.run,
        )
        .unwrap();
        let store = Store::open_read_only(dir.path()).unwrap();
        let rows_in = |folder: &str, name: &str, vars: &[&str]| -> Vec<String> {
            let text = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(folder)
                    .join(name),
            )
            .unwrap();
            let mut out = Vec::new();
            query::query_store(&store, &text, ResultFormat::Json, &mut out, None).unwrap();
            let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let mut v: Vec<String> = j["results"]["bindings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    vars.iter()
                        .map(|x| b[*x]["value"].as_str().unwrap_or("-"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            v.sort();
            v
        };
        let rows = |name: &str, vars: &[&str]| rows_in("ontology/queries", name, vars);
        // The first pages (from the rankings) and the exports (every row, from the tallies)
        // agree on a store whose listings fit on one page.
        for (name, vars) in [
            (
                "symptoms_per_body_part.rq",
                &["body_part", "finding", "reports"][..],
            ),
            (
                "treatments_per_body_part.rq",
                &["body_part", "treatment", "reports"],
            ),
            (
                "examinations_and_findings.rq",
                &["examination", "finding", "reports"],
            ),
            (
                "findings_per_segment.rq",
                &["site", "syntax", "finding", "reports"],
            ),
            (
                "body_parts_with_stenosis.rq",
                &["body_part", "finding", "percent", "reports"],
            ),
        ] {
            let page = rows(name, vars);
            assert!(!page.is_empty(), "{name}");
            assert_eq!(page, rows_in("ontology/exports", name, vars), "{name}");
        }

        assert_eq!(
            rows(
                "body_parts_with_stenosis.rq",
                &["body_part", "percent", "reports"]
            ),
            ["前降支近段 90 1", "回旋支远段 80 1"]
        );
        assert_eq!(
            rows(
                "stenosis_in_segment.rq",
                &["syntax", "segment", "report_id", "percent"]
            ),
            ["6 LAD-proximal R1 90"]
        );
        assert_eq!(
            rows("timi_below_3_after_pci.rq", &["report_id", "where", "timi"]),
            ["R1 lad近段 2"]
        );
        assert_eq!(
            rows(
                "stents_per_vessel.rq",
                &[
                    "vessel",
                    "diameter_mm",
                    "length_mm",
                    "reports",
                    "placements"
                ]
            ),
            ["LAD 3 18 1 1"]
        );
        // Each report once per site at its highest stenosis: R1 at the proximal LAD (and the
        // LAD), R2 at the distal circumflex (and the LCX).
        assert_eq!(
            rows("stenosis_per_segment.rq", &["site", "syntax", "reports"]),
            ["LAD - 1", "LAD-proximal 6 1", "LCX - 1", "LCX-distal 13 1"]
        );
        let per_segment = rows("findings_per_segment.rq", &["site", "finding", "reports"]);
        for row in [
            "LAD 狭窄90% 1",
            "LAD timi血流0级 1",
            "LAD timi血流2级 1",
            "LAD-proximal 狭窄90% 1",
            "LCX-distal 狭窄80% 1",
        ] {
            assert!(
                per_segment.contains(&row.to_owned()),
                "{row} not in {per_segment:?}"
            );
        }
        assert_eq!(
            rows("findings_of_body_part.rq", &["finding", "reports"]),
            ["狭窄90% 1"]
        );
        assert_eq!(
            rows("relation_counts.rq", &["relation", "assertions", "reports"]),
            ["BpSy 4 2", "BpTm 2 2", "InSy 1 1", "McBp 1 1"]
        );
        assert_eq!(
            rows("reports_behind_link.rq", &["report_id"]),
            Vec::<String>::new(),
            "no rca近段 here"
        );
        assert_eq!(
            rows(
                "treatments_per_body_part.rq",
                &["body_part", "treatment", "reports"]
            ),
            ["前降支 pci 1", "前降支近段 支架植入术 1"]
        );
        // The value classes the questions start from: exactly the entities with the value.
        let typed = |class: &str| -> Vec<String> {
            let q = format!(
                "PREFIX cb: <https://w3id.org/cbrrel/ontology#> SELECT ?t WHERE {{ \
                 GRAPH <{}> {{ ?e a cb:{class} ; cb:normalizedText ?t }} }} ORDER BY ?t",
                rdf::ENTITIES_GRAPH
            );
            let mut out = Vec::new();
            query::query_store(&store, &q, ResultFormat::Tsv, &mut out, None).unwrap();
            String::from_utf8(out)
                .unwrap()
                .lines()
                .skip(1)
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(typed("StenosisFinding"), ["\"狭窄80%\"", "\"狭窄90%\""]);
        assert_eq!(typed("TimiFinding"), ["\"timi血流0级\"", "\"timi血流2级\""]);
        assert_eq!(typed("SizedDevice"), ["\"firebird2 3.0*18mm支架\""]);
    }
}
