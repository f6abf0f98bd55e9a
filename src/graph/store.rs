//! The load stage: report graphs into an Oxigraph store on disk (RocksDB).
//!
//! - The new graphs are first checked against ontology/shapes.ttl in an in-memory store; a
//!   violation stops the load before the disk store is touched.
//! - An empty store is filled through the bulk loader (which writes nothing until `commit()`).
//! - A store with data is updated report by report: dropping a report's graph and inserting
//!   its new quads happen in one transaction, so a reader never sees a report half replaced
//!   and a crash leaves each report either old or new. Re-running on the same input converges
//!   to the same store (graphs are sets; IRIs are deterministic).
//! - The ontology lives in its own graph and is replaced when ontology/cbrrel.ttl changed.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::{GraphName, NamedOrBlankNodeRef, Quad};
use oxigraph::store::Store;
use rayon::prelude::*;
use serde::Serialize;

use super::rdf::{ontology_graph, report_iri, report_quads, ReportInput, RunInfo, Vocabulary};
use super::shacl::{Shapes, Violation};
use super::GraphError;

/// Reports per write transaction on update (each report's replacement is inside one).
const REPORTS_PER_TRANSACTION: usize = 256;
/// Reports per in-memory SHACL check and per bulk-loader batch.
const CHECK_CHUNK: usize = 2000;

/// The numbers of one load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadSummary {
    /// Report graphs written (new or replaced).
    pub reports: usize,
    pub replaced: usize,
    /// Relations asserted in the written graphs.
    pub triples: usize,
    pub per_relation: BTreeMap<String, usize>,
    /// Quads in the written graphs.
    pub quads_written: usize,
    /// Quads in the whole store after the load.
    pub store_quads: usize,
    pub bulk: bool,
    pub ontology_updated: bool,
    pub shacl_checks: usize,
    pub seconds: f64,
}

/// Parse Turtle into quads of `graph`.
pub fn turtle_quads(turtle: &str, graph: GraphName) -> Result<Vec<Quad>, GraphError> {
    RdfParser::from_format(RdfFormat::Turtle)
        .with_default_graph(graph)
        .for_slice(turtle.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| GraphError::Ontology(e.to_string()))
}

/// Open (or create) the store directory.
pub fn open_store(dir: &Path) -> Result<Store, GraphError> {
    Store::open(dir).map_err(|e| GraphError::Store(format!("{}: {e}", dir.display())))
}

fn st(e: impl std::fmt::Display) -> GraphError {
    GraphError::Store(e.to_string())
}

/// Content hash of every report in the store (report id → hash): what ingest compares with.
pub fn stored_hashes(dir: &Path, vocab: &Vocabulary) -> Result<BTreeMap<String, String>, GraphError> {
    if !dir.exists() {
        return Ok(BTreeMap::new());
    }
    let store = Store::open_read_only(dir).map_err(|e| GraphError::Store(format!("{}: {e}", dir.display())))?;
    let q = format!(
        "SELECT ?id ?h WHERE {{ GRAPH ?g {{ ?g <{}> ?id ; <{}> ?h }} }}",
        vocab.term("reportId").as_str(),
        vocab.term("contentHash").as_str()
    );
    let mut out = BTreeMap::new();
    for row in super::shacl::select(&store, &q).map_err(GraphError::Store)? {
        if let [Some(oxigraph::model::Term::Literal(id)), Some(oxigraph::model::Term::Literal(h))] = row.as_slice() {
            out.insert(id.value().to_owned(), h.value().to_owned());
        }
    }
    Ok(out)
}

/// Load report graphs (and the ontology) into the store at `dir`.
pub fn load(
    dir: &Path,
    ontology_ttl: &str,
    shapes: &Shapes,
    vocab: &Vocabulary,
    reports: &[ReportInput<'_>],
    run: &RunInfo,
) -> Result<LoadSummary, GraphError> {
    let t0 = Instant::now();
    let ontology = turtle_quads(ontology_ttl, ontology_graph().into_owned().into())?;
    let mut summary = LoadSummary { reports: reports.len(), shacl_checks: shapes.len(), ..Default::default() };
    for r in reports {
        summary.triples += r.triples.len();
        for t in &r.triples {
            *summary.per_relation.entry(t.relation.to_owned()).or_default() += 1;
        }
    }
    // Quads are built a chunk of reports at a time (rayon inside a chunk), so memory stays
    // bounded by the chunk, not the dump; building is cheap next to writing, so it runs twice.
    let build = |chunk: &[ReportInput<'_>]| -> Result<Vec<Vec<Quad>>, GraphError> {
        chunk.par_iter().map(|r| report_quads(r, run, vocab)).collect::<Result<_, _>>().map_err(GraphError::Invalid)
    };

    // Pass 1, SHACL in memory: nothing reaches the disk store unless every shape holds.
    let mut violations: Vec<Violation> = Vec::new();
    for chunk in reports.chunks(CHECK_CHUNK) {
        let quads = build(chunk)?;
        summary.quads_written += quads.iter().map(Vec::len).sum::<usize>();
        let check = Store::new().map_err(st)?;
        let mut loader = check.bulk_loader();
        loader.load_quads(ontology.iter().cloned().chain(quads.into_iter().flatten())).map_err(st)?;
        loader.commit().map_err(st)?;
        violations.extend(shapes.validate(&check).map_err(GraphError::Invalid)?);
    }
    if !violations.is_empty() {
        let first: Vec<String> = violations.iter().take(5).map(|v| format!("{} at {}: {}", v.shape, v.focus, v.message)).collect();
        return Err(GraphError::Shacl { count: violations.len(), first });
    }

    // Pass 2, the disk store.
    let store = open_store(dir)?;
    if store.is_empty().map_err(st)? {
        summary.bulk = true;
        summary.ontology_updated = true;
        let mut loader = store.bulk_loader();
        loader.load_quads(ontology).map_err(st)?;
        for chunk in reports.chunks(CHECK_CHUNK) {
            loader.load_quads(build(chunk)?.into_iter().flatten()).map_err(st)?;
        }
        // Nothing is in the store until this commit.
        loader.commit().map_err(st)?;
    } else {
        // The ontology graph: replaced only when the file changed.
        let og = ontology_graph();
        let stored: HashSet<Quad> = store.quads_for_pattern(None, None, None, Some(og.into())).collect::<Result<_, _>>().map_err(st)?;
        let wanted: HashSet<Quad> = ontology.iter().cloned().collect();
        if stored != wanted {
            let mut t = store.start_transaction().map_err(st)?;
            t.remove_named_graph(NamedOrBlankNodeRef::from(og)).map_err(st)?;
            t.extend(ontology.iter());
            t.commit().map_err(st)?;
            summary.ontology_updated = true;
        }
        for chunk in reports.chunks(REPORTS_PER_TRANSACTION) {
            let quads = build(chunk)?;
            let mut t = store.start_transaction().map_err(st)?;
            for (r, quads) in chunk.iter().zip(&quads) {
                let g = report_iri(r.report_id);
                if t.contains_named_graph(g.as_ref()).map_err(st)? {
                    summary.replaced += 1;
                    t.remove_named_graph(g.as_ref()).map_err(st)?;
                }
                t.insert_named_graph(g.as_ref());
                t.extend(quads.iter());
            }
            t.commit().map_err(st)?;
        }
    }
    store.flush().map_err(st)?;
    summary.store_quads = store.len().map_err(st)?;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use crate::graph::rdf::TripleInput;
    use crate::graph::{ONTOLOGY_TTL, SHAPES_TTL};

    fn t<'a>(rel: &'a str, s: (&'a str, &'a str, u64), o: (&'a str, &'a str, u64)) -> TripleInput<'a> {
        TripleInput {
            relation: rel,
            subject_text: s.0,
            subject_type: s.1,
            subject_span: (s.2, s.2 + s.0.chars().count() as u64),
            object_text: o.0,
            object_type: o.1,
            object_span: (o.2, o.2 + o.0.chars().count() as u64),
            confidence: 0.8,
        }
    }

    fn report<'a>(id: &'a str, hash: &'a str, triples: Vec<TripleInput<'a>>) -> ReportInput<'a> {
        ReportInput { report_id: id, content_hash: hash, patient_id: None, date: None, department: Some("心内科"), triples }
    }

    #[test]
    fn bulk_load_then_replace_one_report_and_rerun_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let shapes = Shapes::parse(SHAPES_TTL).unwrap();
        let run = RunInfo { model_id: "m".into(), ended_at: "2026-11-25T02:00:00Z".into() };
        let a = report("A", "h1", vec![t("BpSy", ("前降支近段", "Bp", 0), ("狭窄80%", "Sy", 5))]);
        let b = report(
            "B",
            "h2",
            vec![t("BpSy", ("前降支近段", "Bp", 3), ("狭窄90%", "Sy", 9)), t("BpTm", ("前降支近段", "Bp", 3), ("支架植入术", "Tm", 20))],
        );
        let first = load(dir.path(), ONTOLOGY_TTL, &shapes, &vocab, &[a.clone(), b.clone()], &run).unwrap();
        assert!(first.bulk && first.ontology_updated);
        assert_eq!(first.triples, 3);
        let n = first.store_quads;
        // The same input again: nothing changes.
        let again = load(dir.path(), ONTOLOGY_TTL, &shapes, &vocab, &[a.clone(), b.clone()], &run).unwrap();
        assert!(!again.bulk && !again.ontology_updated);
        assert_eq!((again.store_quads, again.replaced), (n, 2));
        // Report B changes: its old finding is gone, A's is untouched, the shared body-part
        // node survives (it is also in A's graph).
        let b2 = report("B", "h3", vec![t("BpSy", ("前降支近段", "Bp", 3), ("狭窄50%", "Sy", 9))]);
        load(dir.path(), ONTOLOGY_TTL, &shapes, &vocab, &[b2], &run).unwrap();
        let store = Store::open_read_only(dir.path()).unwrap();
        let findings = |store: &Store| -> Vec<String> {
            let q =
                "PREFIX cb: <https://w3id.org/cbrrel/ontology#> SELECT ?t WHERE { GRAPH ?g { ?bp cb:hasFinding ?sy . ?sy cb:normalizedText ?t } } ORDER BY ?t";
            let rows = crate::graph::shacl::select(store, q).unwrap();
            rows.into_iter().filter_map(|r| match &r[0] { Some(oxigraph::model::Term::Literal(l)) => Some(l.value().to_owned()), _ => None }).collect()
        };
        assert_eq!(findings(&store), vec!["狭窄50%", "狭窄80%"]);
        drop(store);
        let hashes = stored_hashes(dir.path(), &vocab).unwrap();
        assert_eq!(hashes.get("B").map(String::as_str), Some("h3"));
        assert_eq!(hashes.get("A").map(String::as_str), Some("h1"));
    }

    #[test]
    fn a_shape_violation_stops_the_load_before_the_store_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let shapes = Shapes::parse(SHAPES_TTL).unwrap();
        let run = RunInfo { model_id: "m".into(), ended_at: "2026-11-25T02:00:00Z".into() };
        // BpSy with a treatment as subject: the domain shape of cb:hasFinding fails.
        let bad = report("X", "h", vec![t("BpSy", ("支架植入术", "Tm", 0), ("狭窄80%", "Sy", 6))]);
        let err = load(dir.path(), ONTOLOGY_TTL, &shapes, &vocab, &[bad], &run).unwrap_err();
        assert!(matches!(err, GraphError::Shacl { .. }), "{err}");
        assert!(err.to_string().contains("hasFinding"), "{err}");
        let store = Store::open_read_only(dir.path());
        assert!(store.map(|s| s.is_empty().unwrap()).unwrap_or(true));
    }
}
