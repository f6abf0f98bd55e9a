//! Retraction: removing report graphs from the store.
//!
//! Two users need it. A full nightly dump (`[input] dump = "full"` in pipeline/nightly.toml)
//! lists every report the hospital still has, so a report stored earlier and absent tonight was
//! withdrawn or deleted upstream and its graph must go; and a data engineer sometimes has to
//! take one report out by hand (`cbrrel retract --report ID`), e.g. after a consent withdrawal.
//!
//! Each report's graph holds everything asserted from it (its own copies of the entity nodes
//! included), so dropping the named graph removes the report and nothing else. Graphs go in
//! transactions of `REPORTS_PER_TRANSACTION`; a crash leaves each report either present or
//! gone, and running the same retraction again finishes it (a report already gone counts as
//! `not_in_store`, not as an error).

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::rdf::report_iri;
use super::store::open_store;
use super::GraphError;

const REPORTS_PER_TRANSACTION: usize = 256;

/// The numbers of one retraction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetractSummary {
    /// Distinct report ids asked for.
    pub requested: usize,
    /// Report graphs removed.
    pub retracted: usize,
    /// Ids with no graph in the store (never loaded, or retracted before).
    pub not_in_store: usize,
    /// Quads in the whole store afterwards.
    pub store_quads: usize,
    pub seconds: f64,
}

/// Remove the graphs of `report_ids` from the store at `dir`. The store must exist: retracting
/// from a path that holds no store is a typo, not a no-op.
pub fn retract(dir: &Path, report_ids: &[String]) -> Result<RetractSummary, GraphError> {
    let t0 = Instant::now();
    if !dir.is_dir() {
        return Err(GraphError::Store(format!(
            "{}: no store here",
            dir.display()
        )));
    }
    let mut ids: Vec<&str> = report_ids.iter().map(|s| s.trim()).collect();
    if let Some(blank) = ids.iter().position(|s| s.is_empty()) {
        return Err(GraphError::Invalid(format!(
            "report id #{} is empty",
            blank + 1
        )));
    }
    ids.sort_unstable();
    ids.dedup();
    let store = open_store(dir)?;
    let st = |e: &dyn std::fmt::Display| GraphError::Store(e.to_string());
    let mut summary = RetractSummary {
        requested: ids.len(),
        ..Default::default()
    };
    for chunk in ids.chunks(REPORTS_PER_TRANSACTION) {
        let mut t = store.start_transaction().map_err(|e| st(&e))?;
        for id in chunk {
            let g = report_iri(id);
            if t.contains_named_graph(g.as_ref()).map_err(|e| st(&e))? {
                t.remove_named_graph(g.as_ref()).map_err(|e| st(&e))?;
                summary.retracted += 1;
            } else {
                summary.not_in_store += 1;
            }
        }
        t.commit().map_err(|e| st(&e))?;
    }
    store.flush().map_err(|e| st(&e))?;
    summary.store_quads = store.len().map_err(|e| st(&e))?;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use crate::graph::rdf::{ReportInput, RunInfo, TripleInput, Vocabulary};
    use crate::graph::{load, stored_hashes, Shapes, ONTOLOGY_TTL, SHAPES_TTL};

    fn report<'a>(id: &'a str, finding: &'a str) -> ReportInput<'a> {
        let t = TripleInput {
            relation: "BpSy",
            subject_text: "前降支",
            subject_type: "Bp",
            subject_span: (0, 3),
            object_text: finding,
            object_type: "Sy",
            object_span: (3, 3 + finding.chars().count() as u64),
            confidence: 0.9,
        };
        ReportInput {
            report_id: id,
            content_hash: id,
            patient_id: None,
            date: None,
            department: None,
            triples: vec![t],
        }
    }

    #[test]
    fn retracting_a_report_removes_its_graph_only_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let shapes = Shapes::parse(SHAPES_TTL).unwrap();
        let run = RunInfo {
            model_id: "m".into(),
            ended_at: "2026-11-25T02:00:00Z".into(),
        };
        let only_a = tempfile::tempdir().unwrap();
        load(
            only_a.path(),
            ONTOLOGY_TTL,
            &shapes,
            &vocab,
            &[report("A", "狭窄80%")],
            &run,
        )
        .unwrap();
        let quads_with_a_only = open_store(only_a.path()).unwrap().len().unwrap();
        // The same body part in both reports: B's retraction must not take A's copy with it.
        load(
            dir.path(),
            ONTOLOGY_TTL,
            &shapes,
            &vocab,
            &[report("A", "狭窄80%"), report("B", "狭窄90%")],
            &run,
        )
        .unwrap();

        let s = retract(dir.path(), &["B".into(), "B".into(), "C".into()]).unwrap();
        assert_eq!((s.requested, s.retracted, s.not_in_store), (2, 1, 1));
        assert_eq!(
            s.store_quads, quads_with_a_only,
            "the store is what loading A alone gives"
        );
        assert_eq!(
            stored_hashes(dir.path(), &vocab)
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec!["A"]
        );
        let again = retract(dir.path(), &["B".into()]).unwrap();
        assert_eq!(
            (again.retracted, again.not_in_store, again.store_quads),
            (0, 1, quads_with_a_only)
        );

        assert!(retract(dir.path(), &[" ".into()])
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let missing = dir.path().join("no-such-store");
        assert!(retract(&missing, &["A".into()])
            .unwrap_err()
            .to_string()
            .contains("no store here"));
        assert!(!missing.exists(), "a mistyped path is not created");
    }
}
